// A scripted Kafka broker for unit tests of code that talks to Kafka (the
// client layer, kafka/client): it listens on 127.0.0.1 (any free port),
// answers ApiVersions (every API klink generates, in the ranges a test sets)
// and Metadata (its topics, all led by itself) on its own, and every other
// request with the next answer queued for that API. A request with no answer
// queued makes it hang up, as a broker does on a request it cannot serve.
// Requests are kept, so that a test can check what was sent and in which
// version. Runs on the test's io_context (one thread); not a substitute for
// the real-Kafka integration tests.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kafka/asio.h"
#include "kafka/cluster.h"
#include "kafka/messages/api_table.h"
#include "kafka/messages/api_versions.h"
#include "kafka/messages/metadata.h"
#include "kafka/protocol/frame.h"
#include "kafka/protocol/header.h"

namespace klink::test {

template <class Request>
struct received_request {
  int16_t version = -1;
  Request request;  // its records (Produce) point into the broker's copy of the frame
};

class fake_broker {
 public:
  explicit fake_broker(asio::io_context& io, int32_t node_id = 1)
      : node_id_(node_id),
        acceptor_(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    for (const auto& api : kafka::msg::known_apis())
      ranges_[api.key] = {api.min_version, api.max_version};
    asio::co_spawn(io, accept_loop(), asio::detached);
  }

  int32_t node_id() const { return node_id_; }
  kafka::broker_address address() const { return {"127.0.0.1", acceptor_.local_endpoint().port()}; }

  // ApiVersions offers `Api` in [min, max] only; max < min: not at all.
  template <class Api>
  void offer(int16_t min, int16_t max) {
    ranges_[Api::key] = {min, max};
  }

  // A topic in Metadata answers, every partition led by this broker in
  // leader epoch `leader_epoch`. A zero id is what brokers before 2.8 send.
  void add_topic(const std::string& name, int32_t partitions, kafka::uuid id = {},
                 int32_t leader_epoch = 5) {
    topics_[name] = {partitions, id, leader_epoch};
  }

  // The next request of Api is answered with `reply`; answers queue in order.
  template <class Api>
  void answer(typename Api::response reply) {
    answer_with<Api>(
        [reply = std::move(reply)](const typename Api::request&, int16_t) { return reply; });
  }

  // The next request of Api is answered with what `make(request, version)` returns.
  template <class Api>
  void answer_with(
      std::function<typename Api::response(const typename Api::request&, int16_t)> make) {
    script_[Api::key].push_back(
        [make = std::move(make)](kafka::wire_writer& out, kafka::bytes_view body, int16_t version) {
          auto request = kafka::decode_message<typename Api::request>(body, version);
          if (!request) return false;
          make(*request, version).encode(out, version);
          return true;
        });
  }

  // Every request of Api received so far, decoded, in order.
  template <class Api>
  std::vector<received_request<typename Api::request>> requests() const {
    std::vector<received_request<typename Api::request>> out;
    for (const auto& [key, version, body] : received_) {
      if (key != Api::key) continue;
      auto request =
          kafka::decode_message<typename Api::request>(kafka::bytes_view(*body), version);
      if (!request) throw std::runtime_error("fake broker: undecodable request");
      out.push_back({version, std::move(*request)});
    }
    return out;
  }

  // Requests that found no answer queued (the broker hung up on them).
  int unanswered() const { return unanswered_; }

 private:
  using io_error = boost::system::error_code;
  // Writes the answer to a request; false when the request does not decode.
  using responder = std::function<bool(kafka::wire_writer&, kafka::bytes_view, int16_t)>;
  struct topic {
    int32_t partitions = 0;
    kafka::uuid id;
    int32_t leader_epoch = 0;
  };

  asio::awaitable<void> accept_loop() {
    for (;;) {
      io_error ec;
      auto socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), asio::detached);
    }
  }

  // One frame's body (after the size), or nothing once the client hung up.
  static asio::awaitable<std::optional<kafka::byte_vector>> read_frame(
      asio::ip::tcp::socket& socket) {
    io_error ec;
    std::array<std::byte, 4> size_bytes{};
    co_await asio::async_read(socket, asio::buffer(size_bytes),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return std::nullopt;
    kafka::wire_reader size_reader{kafka::bytes_view(size_bytes)};
    const int32_t size = size_reader.read_int32();
    if (size < 8 || size > (64 << 20)) co_return std::nullopt;
    kafka::byte_vector frame(static_cast<std::size_t>(size));
    co_await asio::async_read(socket, asio::buffer(frame),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return std::nullopt;
    co_return frame;
  }

  asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
    for (;;) {
      auto frame = co_await read_frame(socket);
      if (!frame) co_return;
      kafka::wire_reader peek{kafka::bytes_view(*frame)};
      const int16_t key = peek.read_int16();
      const int16_t version = peek.read_int16();
      kafka::wire_reader r{kafka::bytes_view(*frame)};
      kafka::request_header header;
      if (!header.decode(r, kafka::request_header_version(key, version))) co_return;
      const kafka::bytes_view body(frame->data() + r.offset(), frame->size() - r.offset());
      kafka::wire_writer out;
      const std::size_t size_at = out.reserve_int32();
      kafka::response_header{header.correlation_id, {}}.encode(
          out, kafka::response_header_version(key, version));
      if (!respond(key, version, body, out)) co_return;
      out.patch_int32(size_at, static_cast<int32_t>(out.size() - 4));
      const kafka::byte_vector bytes = out.flatten();
      io_error ec;
      co_await asio::async_write(socket, asio::buffer(bytes),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
  }

  // Writes the answer's body; false: hang up instead.
  bool respond(int16_t key, int16_t version, kafka::bytes_view body, kafka::wire_writer& out) {
    if (key == kafka::msg::api_versions_api::key) {
      api_versions().encode(out, version);
      return true;
    }
    if (key == kafka::msg::metadata_api::key) {
      metadata().encode(out, version);
      return true;
    }
    received_.emplace_back(key, version,
                           std::make_shared<kafka::byte_vector>(body.begin(), body.end()));
    auto& queue = script_[key];
    if (queue.empty()) {
      ++unanswered_;
      return false;
    }
    auto next = std::move(queue.front());
    queue.pop_front();
    return next(out, kafka::bytes_view(*std::get<2>(received_.back())), version);
  }

  kafka::msg::api_versions_response api_versions() const {
    kafka::msg::api_versions_response reply;
    for (const auto& [key, range] : ranges_) {
      if (range.second < range.first) continue;
      kafka::msg::api_versions_response::api_version v;
      v.api_key = key;
      v.min_version = range.first;
      v.max_version = range.second;
      reply.api_keys.push_back(v);
    }
    return reply;
  }

  kafka::msg::metadata_response metadata() const {
    using response = kafka::msg::metadata_response;
    response reply;
    response::metadata_response_broker self;
    self.node_id = node_id_;
    self.host = "127.0.0.1";
    self.port = acceptor_.local_endpoint().port();
    reply.brokers.push_back(self);
    reply.cluster_id = "fake";
    reply.controller_id = node_id_;
    for (const auto& [name, t] : topics_) {
      response::metadata_response_topic mt;
      mt.name = name;
      mt.topic_id = t.id;
      for (int32_t p = 0; p < t.partitions; ++p) {
        response::metadata_response_topic::metadata_response_partition mp;
        mp.partition_index = p;
        mp.leader_id = node_id_;
        mp.leader_epoch = t.leader_epoch;
        mp.replica_nodes = {node_id_};
        mp.isr_nodes = {node_id_};
        mt.partitions.push_back(mp);
      }
      reply.topics.push_back(std::move(mt));
    }
    return reply;
  }

  int32_t node_id_;
  asio::ip::tcp::acceptor acceptor_;
  std::map<int16_t, std::pair<int16_t, int16_t>> ranges_;
  std::map<std::string, topic> topics_;
  std::map<int16_t, std::deque<responder>> script_;
  std::vector<std::tuple<int16_t, int16_t, std::shared_ptr<kafka::byte_vector>>> received_;
  int unanswered_ = 0;
};

// Runs `task` on `io` until it completes (the broker keeps serving meanwhile)
// and returns its result; throws when it takes longer than `limit`.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> task,
      std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  std::optional<T> out;
  std::exception_ptr failure;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    failure = e;
    if (!e) out.emplace(std::move(value));
    io.stop();
  });
  io.restart();
  io.run_for(limit);
  if (failure) std::rethrow_exception(failure);
  if (!out) throw std::runtime_error("the task did not finish in time");
  return std::move(*out);
}

// A cluster whose one broker is a fake_broker, for tests of calls on it.
struct fake_cluster {
  explicit fake_cluster(std::string role = "source") : role(std::move(role)) {}
  ~fake_cluster() { cluster.close(); }

  template <class T>
  T run(asio::awaitable<T> task) {
    return test::run(io, std::move(task));
  }
  // Reads the broker's metadata (brokers, and `topics`), as callers of the
  // client layer have done before they call it.
  void refresh(const std::vector<std::string>& topics = {}) {
    if (!run(cluster.refresh_metadata(topics))) throw std::runtime_error("metadata refresh failed");
  }

  std::string role;
  asio::io_context io;
  fake_broker broker{io};
  kafka::cluster cluster{io.get_executor(), role, {broker.address()}, kafka::connection_options{}};
};

}  // namespace klink::test
