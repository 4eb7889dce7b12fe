#include "admin/metrics.h"

#include <prometheus/text_serializer.h>

namespace klink::admin {

namespace {

template <typename T>
prometheus::Family<T>& family(prometheus::Registry& registry, const std::string& name,
                              const std::string& help) {
  if constexpr (std::is_same_v<T, prometheus::Gauge>) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
  } else if constexpr (std::is_same_v<T, prometheus::Histogram>) {
    return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
  } else {
    return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
  }
}

// Counters only move forward: a value below what was seen (a partition
// object re-created) counts from zero again.
void advance(prometheus::Counter& counter, uint64_t now, uint64_t& seen) {
  if (now >= seen) {
    counter.Increment(static_cast<double>(now - seen));
  } else {
    counter.Increment(static_cast<double>(now));
  }
  seen = now;
}

// The same: what the engine's histogram gained since `seen`, or all of it
// when it counts less than before (re-created).
void advance(prometheus::Histogram& histogram, const mirror::latency_histogram& now,
             mirror::latency_histogram& seen) {
  if (now.count() == seen.count()) return;
  const bool restarted = now.count() < seen.count();
  std::vector<double> increments(now.buckets().size());
  for (std::size_t i = 0; i < increments.size(); ++i) {
    const uint64_t before = restarted ? 0 : seen.buckets()[i];
    increments[i] = now.buckets()[i] >= before ? static_cast<double>(now.buckets()[i] - before) : 0;
  }
  histogram.ObserveMultiple(increments, restarted ? now.sum() : now.sum() - seen.sum());
  seen = now;
}

const prometheus::Histogram::BucketBoundaries& latency_bounds() {
  static const prometheus::Histogram::BucketBoundaries bounds(
      mirror::latency_histogram::bounds.begin(), mirror::latency_histogram::bounds.end());
  return bounds;
}

}  // namespace

metrics::metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      partition_lag_records_(family<prometheus::Gauge>(
          *registry_, "klink_mirror_partition_lag_records",
          "Records in the source partition (up to its last stable offset) not yet on the "
          "destination")),
      partition_lag_seconds_(family<prometheus::Gauge>(
          *registry_, "klink_mirror_partition_lag_seconds",
          "Age of the oldest source record not yet on the destination; 0 when caught up")),
      lag_records_(
          family<prometheus::Gauge>(*registry_, "klink_mirror_lag_records",
                                    "Records of the source topic not yet on the destination")),
      records_total_(family<prometheus::Counter>(*registry_, "klink_mirror_records_total",
                                                 "Records written to the mirror topic")),
      bytes_total_(family<prometheus::Counter>(*registry_, "klink_mirror_bytes_total",
                                               "Record batch bytes written to the mirror topic")),
      batches_rebuilt_total_(family<prometheus::Counter>(
          *registry_, "klink_mirror_batches_rebuilt_total",
          "Batches rebuilt instead of copied byte for byte (compaction holes, LogAppendTime)")),
      records_skipped_total_(family<prometheus::Counter>(
          *registry_, "klink_mirror_records_skipped_total",
          "Source offsets deleted (retention, DeleteRecords) before klink copied them and "
          "skipped because on_source_gap = \"skip\"")),
      mirror_state_(family<prometheus::Gauge>(
          *registry_, "klink_mirror_state", "1 for the mirror's current state, 0 for the others")),
      divergent_records_(family<prometheus::Gauge>(
          *registry_, "klink_mirror_divergent_records",
          "Records an old source kept beyond a switch's cut when the mirror was reversed")),
      link_state_(family<prometheus::Gauge>(*registry_, "klink_link_state",
                                            "1 for the link's current state, 0 for the others")),
      fetch_latency_(family<prometheus::Histogram>(
          *registry_, "klink_fetch_latency_seconds",
          "Fetch round trips to source brokers that answered; includes the broker's long poll "
          "(up to fetch_max_wait) when there is nothing new to read")),
      produce_latency_(family<prometheus::Histogram>(
          *registry_, "klink_produce_latency_seconds",
          "Produce round trips to destination brokers that answered (acks=all)")),
      kafka_errors_total_(family<prometheus::Counter>(
          *registry_, "klink_kafka_errors_total",
          "Kafka error codes received, per cluster, request type and error; requests that got "
          "no answer (connection refused or lost, timed out) count as NETWORK_EXCEPTION")),
      offsets_committed_total_(family<prometheus::Counter>(
          *registry_, "klink_consumer_offsets_committed_total",
          "Consumer-group partition offsets committed on the destination by the offset sync")),
      authentication_failures_total_(family<prometheus::Counter>(
          *registry_, "klink_authentication_failures_total",
          "Failed TLS handshakes and SASL authentications when connecting to a cluster "
          "(link state FAILED while they last)")),
      scale_out_owned_partitions_(family<prometheus::Gauge>(
          *registry_, "klink_scale_out_owned_partitions",
          "Scale-out links: mirror partitions this instance owns in the link's group now (0 "
          "while it rebalances or has not joined)")),
      scale_out_generation_(family<prometheus::Gauge>(
          *registry_, "klink_scale_out_generation",
          "Scale-out links: the group generation this instance joined (-1 while it has no "
          "member id); it rises at every rebalance")) {}

metrics::link_series& metrics::link_of(const std::string& name) {
  auto [it, inserted] = links_.try_emplace(name);
  if (inserted) {
    auto& s = it->second;
    for (auto state : linker::link_states)
      s.states[state] = &link_state_.Add({{"link", name}, {"state", std::string(state)}});
    s.fetch_latency.histogram =
        &fetch_latency_.Add({{"link", name}, {"cluster", "source"}}, latency_bounds());
    s.produce_latency.histogram =
        &produce_latency_.Add({{"link", name}, {"cluster", "destination"}}, latency_bounds());
    s.offsets_committed.counter = &offsets_committed_total_.Add({{"link", name}});
    s.source_authentication_failures.counter =
        &authentication_failures_total_.Add({{"link", name}, {"cluster", "source"}});
    s.destination_authentication_failures.counter =
        &authentication_failures_total_.Add({{"link", name}, {"cluster", "destination"}});
  }
  return it->second;
}

void metrics::update_link(link_series& s, const linker::link& l) {
  const auto current_state = l.state();
  for (auto& [state, gauge] : s.states)
    gauge->Set(state == current_state ? 1 : 0);
  const auto& stats = l.stats();
  advance(*s.fetch_latency.histogram, stats.fetch_latency, s.fetch_latency.seen);
  advance(*s.produce_latency.histogram, stats.produce_latency, s.produce_latency.seen);
  for (const auto& [key, count] : stats.kafka_errors) {
    auto [it, inserted] = s.kafka_errors.try_emplace(key);
    if (inserted) {
      it->second.counter = &kafka_errors_total_.Add({{"link", l.name()},
                                                     {"cluster", std::string(key.cluster)},
                                                     {"api", std::string(key.api)},
                                                     {"error", std::string(key.error)}});
    }
    advance(*it->second.counter, count, it->second.seen);
  }
  advance(*s.offsets_committed.counter, l.consumer_offsets_committed(), s.offsets_committed.seen);
  advance(*s.source_authentication_failures.counter, l.health().authentication_failures("source"),
          s.source_authentication_failures.seen);
  advance(*s.destination_authentication_failures.counter,
          l.health().authentication_failures("destination"),
          s.destination_authentication_failures.seen);
  update_scale_out(s, l);
}

void metrics::update_scale_out(link_series& s, const linker::link& l) {
  if (l.scale_out() == nullptr) {
    remove_scale_out(s);
    return;
  }
  if (s.scale_out_owned_partitions == nullptr) {
    s.scale_out_owned_partitions = &scale_out_owned_partitions_.Add({{"link", l.name()}});
    s.scale_out_generation = &scale_out_generation_.Add({{"link", l.name()}});
  }
  const auto& m = l.scale_out()->membership();
  s.scale_out_owned_partitions->Set(static_cast<double>(m.owned().size()));
  s.scale_out_generation->Set(m.generation());
}

void metrics::remove_scale_out(link_series& s) {
  if (s.scale_out_owned_partitions == nullptr) return;
  scale_out_owned_partitions_.Remove(s.scale_out_owned_partitions);
  scale_out_generation_.Remove(s.scale_out_generation);
  s.scale_out_owned_partitions = nullptr;
  s.scale_out_generation = nullptr;
}

metrics::partition_series& metrics::partition(const std::string& link, const std::string& topic,
                                              int32_t partition) {
  auto [it, inserted] = partitions_.try_emplace({link, topic, partition});
  if (inserted) {
    const prometheus::Labels labels{
        {"link", link}, {"topic", topic}, {"partition", std::to_string(partition)}};
    it->second.lag_records = &partition_lag_records_.Add(labels);
    it->second.lag_seconds = &partition_lag_seconds_.Add(labels);
  }
  return it->second;
}

metrics::topic_series& metrics::topic(const std::string& link, const std::string& topic) {
  auto [it, inserted] = topics_.try_emplace({link, topic});
  if (inserted) {
    const prometheus::Labels labels{{"link", link}, {"topic", topic}};
    auto& s = it->second;
    s.lag_records = &lag_records_.Add(labels);
    s.records = &records_total_.Add(labels);
    s.bytes = &bytes_total_.Add(labels);
    s.batches_rebuilt = &batches_rebuilt_total_.Add(labels);
    s.records_skipped = &records_skipped_total_.Add(labels);
    s.divergent_records = &divergent_records_.Add(labels);
    for (auto state : linker::mirror_states) {
      s.states[state] =
          &mirror_state_.Add({{"link", link}, {"topic", topic}, {"state", std::string(state)}});
    }
  }
  return it->second;
}

void metrics::update(const std::vector<std::unique_ptr<linker::link>>& links) {
  std::set<std::string> listed_links;
  std::set<std::pair<std::string, std::string>> listed_topics;
  std::set<std::tuple<std::string, std::string, int32_t>> listed_partitions;
  for (const auto& l : links) {
    const std::string& name = l->name();
    listed_links.insert(name);
    update_link(link_of(name), *l);

    for (const auto& mirror : l->mirrors()) {
      listed_topics.insert({name, mirror.source_topic});
      auto& t = topic(name, mirror.source_topic);
      for (const auto& p : mirror.partitions) {
        listed_partitions.insert({name, mirror.source_topic, p.partition});
        auto& s = partition(name, mirror.source_topic, p.partition);
        s.lag_records->Set(static_cast<double>(p.lag_records));
        s.lag_seconds->Set(p.lag_seconds);
        advance(*t.records, p.records_produced, s.seen.records_produced);
        advance(*t.bytes, p.bytes_produced, s.seen.bytes_produced);
        advance(*t.batches_rebuilt, p.batches_rebuilt, s.seen.batches_rebuilt);
        advance(*t.records_skipped, p.records_skipped, s.seen.records_skipped);
      }
      t.lag_records->Set(static_cast<double>(mirror.lag_records));
      int64_t divergent = 0;
      for (const auto& [cluster, range] : mirror.divergent_ranges)
        divergent += range.records;
      t.divergent_records->Set(static_cast<double>(divergent));
      for (auto& [s, gauge] : t.states)
        gauge->Set(s == mirror.state ? 1 : 0);
    }
  }
  remove_unlisted(listed_links, listed_topics, listed_partitions);
}

void metrics::remove_unlisted(
    const std::set<std::string>& links, const std::set<std::pair<std::string, std::string>>& topics,
    const std::set<std::tuple<std::string, std::string, int32_t>>& partitions) {
  for (auto it = partitions_.begin(); it != partitions_.end();) {
    if (partitions.contains(it->first)) {
      ++it;
      continue;
    }
    partition_lag_records_.Remove(it->second.lag_records);
    partition_lag_seconds_.Remove(it->second.lag_seconds);
    it = partitions_.erase(it);
  }
  for (auto it = topics_.begin(); it != topics_.end();) {
    if (topics.contains(it->first)) {
      ++it;
      continue;
    }
    auto& t = it->second;
    lag_records_.Remove(t.lag_records);
    records_total_.Remove(t.records);
    bytes_total_.Remove(t.bytes);
    batches_rebuilt_total_.Remove(t.batches_rebuilt);
    records_skipped_total_.Remove(t.records_skipped);
    divergent_records_.Remove(t.divergent_records);
    for (auto& [state, gauge] : t.states)
      mirror_state_.Remove(gauge);
    it = topics_.erase(it);
  }
  for (auto it = links_.begin(); it != links_.end();) {
    if (links.contains(it->first)) {
      ++it;
      continue;
    }
    auto& s = it->second;
    for (auto& [state, gauge] : s.states)
      link_state_.Remove(gauge);
    fetch_latency_.Remove(s.fetch_latency.histogram);
    produce_latency_.Remove(s.produce_latency.histogram);
    offsets_committed_total_.Remove(s.offsets_committed.counter);
    authentication_failures_total_.Remove(s.source_authentication_failures.counter);
    authentication_failures_total_.Remove(s.destination_authentication_failures.counter);
    for (auto& [key, series] : s.kafka_errors)
      kafka_errors_total_.Remove(series.counter);
    remove_scale_out(s);
    it = links_.erase(it);
  }
}

std::string metrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace klink::admin
