// klink_member: one member of a link's scale-out group (linker/group_membership)
// against a real cluster, sharing the fake partitions <topic>:0..<n-1>. It
// prints one JSON line per event on stdout:
//   {"event":"assigned","member":..,"instance":..,"generation":..,"leader":..,"partitions":["t:0",..]}
//   {"event":"revoked","member":..,"generation":..,"partitions":[..]}
//   {"event":"lease","member":..,"generation":..,"lease":true|false}
//   {"event":"left","member":..}
// and with --describe, once, what any member can see of the whole group:
//   {"event":"describe","state":..,"members":[{"member":..,"instance":..,"generation":..,"partitions":[..]}]}
// SIGTERM/SIGINT: revoke, LeaveGroup, exit 0. Logs go to stderr.
// A test tool, not part of the daemon; single-threaded (one io_context).
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <iostream>
#include <string>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/sleep.h"
#include "linker/group_membership.h"

namespace {

using namespace klink;
using nlohmann::json;
using std::chrono::milliseconds;

json names(const std::vector<linker::topic_partition>& partitions) {
  json out = json::array();
  for (const auto& [topic, partition] : partitions)
    out.push_back(topic + ":" + std::to_string(partition));
  return out;
}

void emit(const json& line) {
  std::cout << line.dump() << std::endl;
}

struct member_options {
  std::string bootstrap;
  std::string group = "klink.member-test";
  std::string instance;
  std::string topic = "t";
  int partitions = 24;
  int session_timeout_ms = 10000;
  int rebalance_timeout_ms = 30000;
  int heartbeat_interval_ms = 0;
  int drain_ms = 0;
  bool describe = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"klink_member: one klink scale-out group member over fake partitions"};
  member_options o;
  o.instance = [] {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    return std::string(host) + ":" + std::to_string(getpid());
  }();
  app.add_option("--bootstrap", o.bootstrap, "host:port of the destination cluster")->required();
  app.add_option("--group", o.group, "group id");
  app.add_option("--instance", o.instance, "instance label (default host:pid)");
  app.add_option("--topic", o.topic, "fake topic name");
  app.add_option("--partitions", o.partitions, "fake partition count");
  app.add_option("--session-timeout-ms", o.session_timeout_ms);
  app.add_option("--rebalance-timeout-ms", o.rebalance_timeout_ms);
  app.add_option("--heartbeat-interval-ms", o.heartbeat_interval_ms, "0: session timeout / 3");
  app.add_option("--drain-ms", o.drain_ms, "time on_revoked takes (a simulated drain)");
  app.add_flag("--describe", o.describe, "print the group's members once (DescribeGroups), exit");
  CLI11_PARSE(app, argc, argv);

  auto address = kafka::parse_broker_address(o.bootstrap);
  if (!address) {
    std::cerr << "bad --bootstrap " << o.bootstrap << "\n";
    return 2;
  }
  asio::io_context io;
  kafka::connection_options connection;
  connection.client_id = "klink_member";
  // JoinGroup is answered when the rebalance completes.
  connection.request_timeout = milliseconds(o.rebalance_timeout_ms + 5000);
  kafka::cluster destination(io.get_executor(), "destination", {*address}, connection);

  linker::group_membership_options options;
  options.group_id = o.group;
  options.instance = o.instance;
  options.session_timeout = milliseconds(o.session_timeout_ms);
  options.rebalance_timeout = milliseconds(o.rebalance_timeout_ms);
  options.heartbeat_interval = milliseconds(o.heartbeat_interval_ms);

  linker::group_membership* self = nullptr;
  bool lease_reported = false;
  // Prints the lease whenever it changed since the last line about it.
  auto report_lease = [&] {
    const bool lease = self->owns_lease(std::chrono::steady_clock::now());
    if (lease == lease_reported) return;
    lease_reported = lease;
    emit({{"event", "lease"},
          {"member", self->member_id()},
          {"generation", self->generation()},
          {"lease", lease}});
  };

  linker::group_callbacks callbacks;
  callbacks.all_partitions = [&] {
    std::vector<linker::topic_partition> out;
    for (int p = 0; p < o.partitions; ++p)
      out.emplace_back(o.topic, p);
    return out;
  };
  callbacks.on_revoked =
      [&](const std::vector<linker::topic_partition>& revoked) -> asio::awaitable<void> {
    report_lease();
    emit({{"event", "revoked"},
          {"member", self->member_id()},
          {"generation", self->generation()},
          {"partitions", names(revoked)}});
    if (o.drain_ms > 0) co_await sleep_for(milliseconds(o.drain_ms));
  };
  callbacks.on_assigned = [&](const std::vector<linker::topic_partition>& assigned,
                              int32_t generation) {
    emit({{"event", "assigned"},
          {"member", self->member_id()},
          {"instance", o.instance},
          {"generation", generation},
          {"leader", self->is_leader()},
          {"partitions", names(assigned)}});
    report_lease();
  };
  linker::group_membership member(destination, options, callbacks);
  self = &member;

  int status = 0;
  auto on_error = [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& error) {
      std::cerr << "klink_member: " << error.what() << "\n";
    }
    status = 1;
    io.stop();
  };

  if (o.describe) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          std::string state;
          auto members = co_await member.describe(&state);
          if (!members) {
            std::cerr << "klink_member: " << members.error().message() << "\n";
            status = 1;
          } else {
            json list = json::array();
            for (const auto& m : *members)
              list.push_back({{"member", m.member_id},
                              {"instance", m.instance},
                              {"client_host", m.client_host},
                              {"generation", m.generation},
                              {"partitions", names(m.partitions)}});
            emit({{"event", "describe"}, {"state", state}, {"members", list}});
          }
          destination.close();
        },
        on_error);
    io.run();
    return status;
  }

  asio::co_spawn(io, member.run(), on_error);
  bool stopping = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        while (!stopping) {
          report_lease();
          co_await sleep_for(milliseconds(50));
        }
      },
      on_error);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          const std::string id = member.member_id();
          co_await member.leave();
          stopping = true;
          emit({{"event", "left"}, {"member", id}});
          destination.close();
          io.stop();
        },
        on_error);
    // LeaveGroup queued behind a JoinGroup waits for the rebalance: bound it.
    auto deadline = std::make_shared<asio::steady_timer>(io, milliseconds(10000));
    deadline->async_wait([&, deadline](const boost::system::error_code& e) {
      if (!e) io.stop();
    });
  });
  io.run();
  return status;
}
