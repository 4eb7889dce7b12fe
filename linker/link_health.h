// Whether a link reaches its two clusters, and why not: reachability per
// cluster role ("source", "destination"), logged once per change, and the
// failures that retrying alone cannot fix (credentials, certificates).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "kafka/error.h"

namespace klink::kafka {
class cluster;
}

namespace klink::linker {

// Lives on the link's executor.
class link_health {
 public:
  explicit link_health(std::string link_name) : link_(std::move(link_name)) {}

  // After each metadata refresh of `cluster`: `failure` is null when it succeeded.
  void note(const kafka::cluster& cluster, const error* failure);

  // Whether the last metadata refresh of `role` succeeded.
  bool reachable(std::string_view role) const;
  // Why `role` is not reachable ("" when it is).
  std::string unreachable_reason(std::string_view role) const;
  // Why the link is FAILED as a whole ("AUTHENTICATION_FAILED", "TLS_FAILED":
  // a cluster refuses klink's credentials or certificates), or "".
  std::string failure_reason() const;
  // Failed TLS handshakes and SASL authentications of `role`, since start.
  uint64_t authentication_failures(std::string_view role) const;

 private:
  std::string link_;
  std::map<std::string, bool, std::less<>> reachable_;
  std::map<std::string, std::string, std::less<>> unreachable_error_;
  // AUTHENTICATION_FAILED / TLS_FAILED while that lasts, else "".
  std::map<std::string, std::string, std::less<>> security_failure_;
  std::map<std::string, uint64_t, std::less<>> authentication_failures_;
};

}  // namespace klink::linker
