// connection::send's `may_write`: asked right before a request's bytes go to
// the socket; a request withdrawn then never reaches the broker (scale-out's
// lease guard relies on it when an instance wakes from a freeze with
// requests still queued).
#include <gtest/gtest.h>

#include "fake_broker.h"
#include "kafka/messages/heartbeat.h"

namespace klink::kafka {
namespace {

using test::fake_cluster;

msg::heartbeat_request beat() {
  msg::heartbeat_request r;
  r.group_id = "g";
  r.generation_id = 1;
  r.member_id = "m";
  return r;
}

TEST(kafka_connection_withdraw, a_request_the_sender_withdraws_is_never_written) {
  fake_cluster f;
  f.refresh();
  f.broker.answer<msg::heartbeat_api>(msg::heartbeat_response{});
  auto conn = f.run(f.cluster.connection_to(f.broker.node_id()));
  ASSERT_TRUE(conn) << conn.error().message();

  auto withdrawn =
      f.run((*conn)->send<msg::heartbeat_api>(beat(), {}, std::nullopt, [] { return false; }));
  ASSERT_FALSE(withdrawn);
  EXPECT_TRUE(withdrawn.error().is(client_errc::closed));
  EXPECT_NE(withdrawn.error().message().find("not written"), std::string::npos);
  EXPECT_TRUE(f.broker.requests<msg::heartbeat_api>().empty());

  // The connection stays usable: the next request, allowed, is answered.
  auto answered =
      f.run((*conn)->send<msg::heartbeat_api>(beat(), {}, std::nullopt, [] { return true; }));
  ASSERT_TRUE(answered) << answered.error().message();
  EXPECT_EQ(f.broker.requests<msg::heartbeat_api>().size(), 1u);
}

}  // namespace
}  // namespace klink::kafka
