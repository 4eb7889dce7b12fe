// The one error type of klink, on the data path and the control plane alike:
// what went wrong (a std::error_code: a Kafka error code, a failed request, or
// one of klink's own conditions), in which call, against which cluster, topic
// and partition, plus the broker's or klink's words. Errors travel as values
// (std::expected<T, klink::error>, spelled klink::result<T>); they become text
// once, at the edge, through message() (a log line, an HTTP answer).
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>

#include "kafka/client_error.h"
#include "kafka/error_code.h"

namespace klink {

// klink's own conditions: neither a code a broker sent nor a request that failed.
enum class errc : uint8_t {
  not_in_metadata = 1,      // the cluster's metadata does not list the topic or partition
  no_leader,                // the partition has no leader (yet)
  not_ready,                // still not there after the retries allowed (leaders, partitions)
  empty_response,           // the answer lacks the topic or partition asked about
  corrupt_data,             // bytes that do not parse: a batch, a record, a CRC mismatch
  too_large,                // a batch larger than klink is willing to read
  partition_count_changed,  // the topic changed under the call
  unreadable_state,         // a checkpoint or state record klink cannot read
  state_mismatch,           // the destination disagrees with klink's checkpoint
  invalid_argument,         // a name or value the call cannot use
  unsupported,              // not possible here (no such feature on this link or broker)
  stopping,                 // the link is stopping
  source_records_deleted,   // the source deleted records before they were copied
};

std::string_view to_string(errc code);
const std::error_category& klink_category();
inline std::error_code make_error_code(errc e) {
  return {static_cast<int>(e), klink_category()};
}

struct error {
  std::error_code code;
  // The Kafka API or klink operation that failed ("CreateTopics", "resume"):
  // static text, never built at run time.
  std::string_view call;
  std::string cluster;  // "source", "destination", or "" when not about one cluster
  std::string topic;    // "" when not about one topic
  int32_t partition = -1;
  std::string detail;   // the broker's message, or what klink expected and found
  std::string context;  // what the caller was doing, outermost first, ": "-separated

  error() = default;
  error(std::error_code c, std::string_view call_name, std::string text = {})
      : code(c), call(call_name), detail(std::move(text)) {}

  // Fluent setters, so that an error is built where it happens:
  //   return std::unexpected(error(errc::no_leader, "ListOffsets").on(role).at(topic, p));
  error&& on(std::string cluster_role) && {
    cluster = std::move(cluster_role);
    return std::move(*this);
  }
  error&& at(std::string topic_name, int32_t partition_index = -1) && {
    topic = std::move(topic_name);
    partition = partition_index;
    return std::move(*this);
  }
  // Adds what the caller was doing: "cannot set up mirror" + "CreateTopics ..."
  // reads "cannot set up mirror: CreateTopics ...".
  error&& within(std::string_view what) &&;
  error& within(std::string_view what) &;

  // Where the decision "retry, refresh metadata, or give up" is made: the one
  // table (kafka/error_code.cpp), for every category of code.
  kafka::error_action action() const;
  bool is(kafka::error_code c) const { return code == kafka::make_error_code(c); }
  bool is(kafka::client_errc c) const { return code == kafka::make_error_code(c); }
  bool is(errc c) const { return code == make_error_code(c); }
  // Kafka's name for a broker's code ("NOT_LEADER_OR_FOLLOWER"), klink's for its own.
  std::string code_name() const;
  // The code as one upper-case token, for APIs and alerts: a Kafka code's
  // name ("MESSAGE_TOO_LARGE") or klink's ("SOURCE_RECORDS_DELETED").
  std::string code_token() const;

  // The text for logs and HTTP answers:
  //   "<context>: <call> on the <cluster> for <topic>-<partition>: <CODE> (<detail>)"
  // with every part that is empty left out (for klink's and the client's own
  // codes the detail stands for the code).
  std::string message() const;
};

template <class T>
using result = std::expected<T, error>;

// A success of result<void>, readable where `co_return {};` would be ambiguous.
inline result<void> ok() {
  return {};
}

}  // namespace klink

template <>
struct std::is_error_code_enum<klink::errc> : std::true_type {};
