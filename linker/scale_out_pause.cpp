// Exact pause with scale-out. The instance that answers :pause records a new
// pause epoch in the mirror's state record. Every other instance, at its next
// state poll, has paused the partitions it runs (mirror_lifecycle::adopt),
// waits until what it sent is answered, and writes a confirmation under its
// member id into the state topic. The answering instance waits for the
// confirmations of every member the group coordinator says runs partitions of
// the mirror. An instance that takes partitions over later reads the record
// first and starts them paused (scale_out_coordinator::start_here).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "kafka/sleep.h"
#include "linker/lifecycle.h"
#include "linker/link_context.h"
#include "linker/scale_out.h"
#include "linker/scale_out_timing.h"
#include "log/log.h"
#include "offsets/checkpoint_store.h"

namespace klink::linker {

namespace {
using clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds confirm_poll{200};
constexpr std::chrono::seconds settle_limit{30};

// Link and topic names contain neither '!' nor '/', so no mirror record
// (link/topic) or checkpoint (link/topic/partition) has such a key.
std::string confirmation_key(std::string_view link, std::string_view topic,
                             std::string_view member) {
  return "!paused/" + std::string(link) + "/" + std::string(topic) + "/" + std::string(member);
}

int64_t confirmed_epoch(const offsets::checkpoint_store& states, const std::string& key) {
  const auto* value = states.find(key);
  if (value == nullptr) return 0;
  const auto doc = nlohmann::json::parse(*value, nullptr, false);
  if (!doc.is_object() || !doc.contains("epoch") || !doc["epoch"].is_number_integer()) return 0;
  return doc["epoch"].get<int64_t>();
}
}  // namespace

asio::awaitable<result<std::string>> scale_out_coordinator::confirm_paused(
    const std::string& topic, clock::time_point deadline) {
  auto& record = ctx_.lifecycle->record(topic);
  const int64_t epoch = ++record.pause_epoch;
  const std::vector<std::string> just_this{topic};
  if (auto written = co_await ctx_.lifecycle->persist(just_this); !written)
    co_return std::unexpected(std::move(written.error()).within("cannot record the pause"));
  std::set<std::string> waiting;  // instances, as the group names them
  while (true) {
    waiting.clear();
    auto members = co_await describe_members(nullptr);
    if (!members) {
      waiting.insert(
          "(unknown: the group coordinator cannot be asked: " + members.error().message() + ")");
    } else {
      co_await ctx_.lifecycle->refresh();
      for (const auto& m : *members) {
        if (m.member_id == membership_->member_id()) continue;
        if (std::ranges::none_of(m.partitions, [&](const auto& tp) { return tp.first == topic; }))
          continue;
        const auto key = confirmation_key(ctx_.name(), topic, m.member_id);
        if (confirmed_epoch(ctx_.lifecycle->states(), key) < epoch)
          waiting.insert(m.instance.empty() ? m.member_id : m.instance);
      }
    }
    if (waiting.empty()) co_return std::string();
    if (ctx_.stopping || clock::now() + confirm_poll > deadline) break;
    co_await sleep_for(confirm_poll);
  }
  std::string names;
  for (const auto& w : waiting)
    names += (names.empty() ? "" : ", ") + w;
  co_return names;
}

asio::awaitable<void> scale_out_coordinator::confirm_pauses_here() {
  const std::string me = membership_->member_id();
  if (me.empty()) co_return;
  std::vector<std::pair<std::string, int64_t>> due;  // topic, epoch
  for (const auto& [topic, e] : ctx_.lifecycle->entries()) {
    if (e.record.phase == mirror_phase::paused && e.record.pause_epoch > confirmed_pause_[topic])
      due.emplace_back(topic, e.record.pause_epoch);
  }
  std::vector<std::pair<std::string, std::string>> confirmations;
  std::vector<std::pair<std::string, int64_t>> confirmed;
  for (const auto& [topic, epoch] : due) {
    // adopt() paused what runs here; batches already sent must be answered.
    if (!co_await ctx_.engine.settle_paused(topic, settle_limit)) {
      log::warn("scale-out: a paused mirror's batches are still unanswered; confirming later",
                {{"link", ctx_.name()}, {"topic", topic}});
      continue;
    }
    nlohmann::json doc{{"epoch", epoch}, {"instance", instance_label()}};
    confirmations.emplace_back(confirmation_key(ctx_.name(), topic, me), doc.dump());
    confirmed.emplace_back(topic, epoch);
  }
  if (confirmations.empty()) co_return;
  if (auto written = co_await ctx_.lifecycle->states().write(confirmations); !written) {
    log::warn("scale-out: cannot confirm a pause in klink's state; retrying",
              {{"link", ctx_.name()}, {"error", written.error().message()}});
    co_return;
  }
  for (const auto& [topic, epoch] : confirmed)
    confirmed_pause_[topic] = std::max(confirmed_pause_[topic], epoch);
}

}  // namespace klink::linker
