#include "kafka/client/producer_id.h"

#include <limits>

#include "kafka/messages/init_producer_id.h"

namespace klink::kafka::client {

asio::awaitable<result<producer_identity>> init_producer_id(cluster& c, call_options options) {
  using api = msg::init_producer_id_api;
  co_return co_await with_retries(c, options, [&]() -> asio::awaitable<result<producer_identity>> {
    msg::init_producer_id_request request;
    request.transactional_id = std::nullopt;
    request.transaction_timeout_ms = std::numeric_limits<int32_t>::max();
    request.producer_id = -1;
    request.producer_epoch = -1;
    auto reply = co_await send<api>(c, target::any_broker(), request);
    if (!reply) co_return std::unexpected(std::move(reply.error()));
    if (reply->body.error_code != 0)
      co_return std::unexpected(answer_error<api>(c, reply->body.error_code));
    co_return producer_identity{reply->body.producer_id, reply->body.producer_epoch};
  });
}

}  // namespace klink::kafka::client
