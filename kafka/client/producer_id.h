// InitProducerId: the idempotent producer identity klink writes mirror batches as.
#pragma once

#include <cstdint>

#include "kafka/asio.h"
#include "kafka/client/call.h"
#include "kafka/cluster.h"
#include "kafka/error.h"

namespace klink::kafka::client {

struct producer_identity {
  int64_t id = -1;
  int16_t epoch = -1;
};

// A new idempotent (not transactional) producer id from any broker of `c`.
asio::awaitable<result<producer_identity>> init_producer_id(cluster& c, call_options options = {});

}  // namespace klink::kafka::client
