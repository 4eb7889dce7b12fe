#include "kafka/error.h"

#include <cctype>

namespace klink {

namespace {

class klink_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "klink"; }
  std::string message(int ev) const override {
    return std::string(to_string(static_cast<errc>(ev)));
  }
};

class client_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "client"; }
  std::string message(int ev) const override {
    return kafka::to_string(static_cast<kafka::client_errc>(ev));
  }
};

}  // namespace

std::string_view to_string(errc code) {
  switch (code) {
    case errc::not_in_metadata:
      return "not in the metadata";
    case errc::no_leader:
      return "no leader";
    case errc::not_ready:
      return "not ready";
    case errc::empty_response:
      return "empty response";
    case errc::corrupt_data:
      return "corrupt data";
    case errc::too_large:
      return "too large";
    case errc::partition_count_changed:
      return "partition count changed";
    case errc::unreadable_state:
      return "unreadable state";
    case errc::state_mismatch:
      return "state mismatch";
    case errc::invalid_argument:
      return "invalid argument";
    case errc::unsupported:
      return "unsupported";
    case errc::stopping:
      return "stopping";
    case errc::source_records_deleted:
      return "source records deleted";
  }
  return "unknown";
}

const std::error_category& klink_category() {
  static const klink_error_category category;
  return category;
}

error&& error::within(std::string_view what) && {
  within(what);
  return std::move(*this);
}

error& error::within(std::string_view what) & {
  context = context.empty() ? std::string(what) : std::string(what) + ": " + context;
  return *this;
}

kafka::error_action error::action() const {
  return kafka::classify(code).action;
}

std::string error::code_name() const {
  if (code.category() == kafka::kafka_category())
    return std::string(kafka::error_name(static_cast<kafka::error_code>(code.value())));
  return code.message();
}

std::string error::code_token() const {
  std::string out = code_name();
  for (auto& c : out)
    c = c == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string error::message() const {
  std::string out = context;
  auto part = [&out](std::string_view separator, std::string_view text) {
    if (!out.empty()) out += separator;
    out += text;
  };
  std::string where(call);
  if (!cluster.empty()) where += (where.empty() ? "the " : " on the ") + cluster;
  if (!topic.empty()) {
    where += (where.empty() ? "" : " for ") + topic;
    if (partition >= 0) where += "-" + std::to_string(partition);
  }
  if (!where.empty()) part(": ", where);
  std::string body;
  if (code.category() == kafka::kafka_category()) {
    body = code_name();
    if (!detail.empty()) body += " (" + detail + ")";
  } else {
    body = detail.empty() ? code_name() : detail;
  }
  part(": ", body);
  return out;
}

}  // namespace klink

namespace klink::kafka {

const std::error_category& client_category() {
  static const client_error_category category;
  return category;
}

}  // namespace klink::kafka
