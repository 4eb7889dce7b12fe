// klink's Prometheus metrics, brought up to date from the links' state on each scrape.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "linker/link.h"
#include "mirror/latency_histogram.h"

namespace klink::admin {

// Lives on the daemon's one thread, like the links it reads.
class metrics {
 public:
  metrics();

  // Sets every gauge from the links' current state and advances the counters
  // by what the engine counted since the last update.
  void update(const std::vector<std::unique_ptr<linker::link>>& links);
  // Prometheus text exposition format 0.0.4.
  std::string serialize() const;

 private:
  struct partition_series {
    prometheus::Gauge* lag_records = nullptr;
    prometheus::Gauge* lag_seconds = nullptr;
    linker::partition_status seen;  // the counters as last exported
  };
  struct topic_series {
    prometheus::Gauge* lag_records = nullptr;
    prometheus::Counter* records = nullptr;
    prometheus::Counter* bytes = nullptr;
    prometheus::Counter* batches_rebuilt = nullptr;
    prometheus::Counter* records_skipped = nullptr;
    prometheus::Gauge* divergent_records = nullptr;
    std::map<std::string_view, prometheus::Gauge*> states;
  };

  // A histogram fed by what the engine's histogram gained since `seen`.
  struct histogram_series {
    prometheus::Histogram* histogram = nullptr;
    mirror::latency_histogram seen;
  };
  struct counter_series {
    prometheus::Counter* counter = nullptr;
    uint64_t seen = 0;
  };
  struct link_series {
    std::map<std::string_view, prometheus::Gauge*> states;
    histogram_series fetch_latency;
    histogram_series produce_latency;
    counter_series offsets_committed;
    counter_series source_authentication_failures;
    counter_series destination_authentication_failures;
    std::map<mirror::kafka_error_key, counter_series> kafka_errors;
    // Scale-out links only: null otherwise (and dropped when a reload turns it off).
    prometheus::Gauge* scale_out_owned_partitions = nullptr;
    prometheus::Gauge* scale_out_generation = nullptr;
  };

  link_series& link_of(const std::string& name);
  void update_link(link_series& s, const linker::link& l);
  void update_scale_out(link_series& s, const linker::link& l);
  void remove_scale_out(link_series& s);
  partition_series& partition(const std::string& link, const std::string& topic, int32_t partition);
  topic_series& topic(const std::string& link, const std::string& topic);
  // Drops the series of links, mirrors and partitions no longer listed (a
  // reload removed the link or narrowed its filters): a stale lag would
  // keep alerting.
  void remove_unlisted(const std::set<std::string>& links,
                       const std::set<std::pair<std::string, std::string>>& topics,
                       const std::set<std::tuple<std::string, std::string, int32_t>>& partitions);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& partition_lag_records_;
  prometheus::Family<prometheus::Gauge>& partition_lag_seconds_;
  prometheus::Family<prometheus::Gauge>& lag_records_;
  prometheus::Family<prometheus::Counter>& records_total_;
  prometheus::Family<prometheus::Counter>& bytes_total_;
  prometheus::Family<prometheus::Counter>& batches_rebuilt_total_;
  prometheus::Family<prometheus::Counter>& records_skipped_total_;
  prometheus::Family<prometheus::Gauge>& mirror_state_;
  prometheus::Family<prometheus::Gauge>& divergent_records_;
  prometheus::Family<prometheus::Gauge>& link_state_;
  prometheus::Family<prometheus::Histogram>& fetch_latency_;
  prometheus::Family<prometheus::Histogram>& produce_latency_;
  prometheus::Family<prometheus::Counter>& kafka_errors_total_;
  prometheus::Family<prometheus::Counter>& offsets_committed_total_;
  prometheus::Family<prometheus::Counter>& authentication_failures_total_;
  prometheus::Family<prometheus::Gauge>& scale_out_owned_partitions_;
  prometheus::Family<prometheus::Gauge>& scale_out_generation_;
  std::map<std::tuple<std::string, std::string, int32_t>, partition_series> partitions_;
  std::map<std::pair<std::string, std::string>, topic_series> topics_;
  std::map<std::string, link_series> links_;
};

}  // namespace klink::admin
