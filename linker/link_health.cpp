#include "linker/link_health.h"

#include "kafka/cluster.h"
#include "log/log.h"

namespace klink::linker {

namespace {
template <class Map>
auto value_or(const Map& map, std::string_view key, typename Map::mapped_type fallback) {
  auto it = map.find(key);
  return it == map.end() ? fallback : it->second;
}
}  // namespace

void link_health::note(const kafka::cluster& cluster, const error* failure) {
  const bool reachable = failure == nullptr;
  const std::string& role = cluster.role();
  unreachable_error_[role] = reachable ? "" : failure->message();
  // Wrong credentials or certificates: retrying cannot help until someone
  // fixes them, so the link says FAILED and why, while retrying with backoff
  // (a rewritten password file or certificate is read on the next attempt).
  std::string security;
  if (!reachable && failure->is(kafka::client_errc::authentication))
    security = "AUTHENTICATION_FAILED";
  if (!reachable && failure->is(kafka::client_errc::tls)) security = "TLS_FAILED";
  if (!security.empty()) ++authentication_failures_[role];
  auto& last_security = security_failure_[role];
  const bool security_changed = last_security != security;
  last_security = security;

  auto [it, first] = reachable_.try_emplace(role, !reachable);
  if (it->second == reachable && !first && !security_changed) return;
  it->second = reachable;
  if (reachable) {
    log::info("cluster reachable", {{"link", link_},
                                    {"cluster", role},
                                    {"cluster_id", cluster.metadata().cluster_id},
                                    {"brokers", cluster.metadata().brokers.size()}});
  } else if (!security.empty()) {
    log::error(
        security == "TLS_FAILED"
            ? "TLS to the cluster failed: check ca_file, the broker's certificate and "
              "host name, and cert_file/key_file; retrying with backoff, no restart needed"
            : "authentication to the cluster failed: check the SASL mechanism, username "
              "and password; retrying with backoff, no restart needed",
        {{"link", link_}, {"cluster", role}, {"reason", security}, {"error", failure->message()}});
  } else {
    log::warn("cluster unreachable; retrying with backoff",
              {{"link", link_}, {"cluster", role}, {"error", failure->message()}});
  }
}

bool link_health::reachable(std::string_view role) const {
  return value_or(reachable_, role, false);
}

std::string link_health::unreachable_reason(std::string_view role) const {
  const std::string name(role);
  if (!reachable_.contains(role)) return name + " cluster not reached yet";
  if (reachable(role)) return "";
  std::string reason = name + " cluster unreachable";
  if (auto security = value_or(security_failure_, role, ""); !security.empty())
    reason = name + " cluster refuses klink (" + security + ")";
  if (auto why = value_or(unreachable_error_, role, ""); !why.empty()) reason += ": " + why;
  return reason;
}

std::string link_health::failure_reason() const {
  for (const char* role : {"source", "destination"}) {
    if (auto security = value_or(security_failure_, role, ""); !security.empty()) return security;
  }
  return "";
}

uint64_t link_health::authentication_failures(std::string_view role) const {
  return value_or(authentication_failures_, role, 0);
}

}  // namespace klink::linker
