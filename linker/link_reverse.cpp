// Failback at the link: a link makes its reverse (the same clusters swapped)
// the first time a mirror is reversed, or at start when the source holds the
// reverse's records; each operator action goes to the link that runs the
// mirror's current direction, and a mirror is shown as that direction with
// the history of both (README.md in this folder, "Failing back").
#include <algorithm>

#include "linker/link.h"
#include "linker/link_parts.h"
#include "log/log.h"

namespace klink::linker {

link_options reversed(const link_options& forward) {
  link_options out = forward;
  // '~' is not allowed in link names: no configured link has this one.
  out.name = forward.name + "~reverse";
  std::swap(out.source_bootstrap, out.destination_bootstrap);
  std::swap(out.source_connection, out.destination_connection);
  out.include_patterns.clear();
  out.mirror_prefixes.clear();
  out.topic_prefix.clear();
  out.strip_prefix = forward.topic_prefix;
  out.start = start_position::earliest;
  // Scale-out: the reverse's instances share its partitions in a group of
  // their own, on its destination.
  if (!out.scale_out.group_id.empty()) out.scale_out.group_id += "~reverse";
  out.reverse = true;
  return out;
}

link& link::ensure_reverse() {
  if (!reverse_) {
    reverse_ = std::make_unique<link>(ctx_->executor, reversed(ctx_->options));
    reverse_->ctx_->opposite = [this]() -> link& { return *this; };
    reverse_->forward_ = this;
    log::info("failback: the link's reverse runs the mirrors reversed to it",
              {{"link", name()}, {"reverse_link", reverse_->name()}});
    if (started_) reverse_->start();
  }
  return *reverse_;
}

std::pair<link*, std::string> link::holder(const std::string& topic) {
  if (!reverse_) return {this, topic};
  const std::string there = mirror_name(topic);
  const auto* theirs = reverse_->lifecycle().record_of(there);
  const auto* ours = parts_->lifecycle.record_of(topic);
  if (theirs != nullptr && theirs->generation > (ours ? ours->generation : 0))
    return {reverse_.get(), there};
  return {this, topic};
}

std::optional<int64_t> link::translate_for_sync(const std::string& topic, int32_t partition,
                                                int64_t source_offset) const {
  if (auto translated = parts_->book.translate(topic, partition, source_offset)) return translated;
  const link* other = ctx_->options.reverse ? forward_ : reverse_.get();
  if (other == nullptr || !parts_->book.has(topic, partition)) return std::nullopt;
  return other->parts_->book.translate_back(ctx_->mirror_name(topic), partition, source_offset);
}

asio::awaitable<pause_outcome> link::pause_mirror(const std::string& topic,
                                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto [l, name] = holder(topic);
  l->lifecycle().pause(name);
  pause_outcome out;
  out.settled = co_await l->ctx_->engine.settle_paused(name, timeout);
  if (!out.settled || !l->ctx_->scale_out) co_return out;
  // Scale-out: the other instances running its partitions stop them too.
  auto confirmed = co_await l->ctx_->scale_out->confirm_paused(name, deadline);
  if (!confirmed) {
    out.settled = false;
    out.problem = confirmed.error().message();
  } else if (!confirmed->empty()) {
    out.settled = false;
    out.problem = "instances " + *confirmed + " have not confirmed that they stopped it";
  }
  co_return out;
}

bool link::resume_mirror(const std::string& topic) {
  auto [l, name] = holder(topic);
  return l->lifecycle().resume(name);
}

asio::awaitable<switch_outcomes> link::switch_mirrors(std::string_view action,
                                                      const std::vector<std::string>& topics,
                                                      std::chrono::milliseconds timeout,
                                                      const reverse_options& options) {
  // Each holder's topics in one call, by the holder's names.
  std::map<link*, std::vector<std::string>> by_holder;
  std::map<std::pair<link*, std::string>, std::string> ours;
  for (const auto& topic : topics) {
    auto [l, name] = holder(topic);
    by_holder[l].push_back(name);
    ours[{l, name}] = topic;
  }
  switch_outcomes out;
  for (auto& [l, names] : by_holder) {
    switch_outcomes answered;
    if (action == "promote") {
      answered = co_await l->lifecycle().promote(names, timeout);
    } else if (action == "failover") {
      answered = co_await l->lifecycle().failover(names, timeout);
    } else {
      answered = co_await l->lifecycle().reverse(names, options, timeout);
    }
    for (auto& [name, outcome] : answered) {
      auto it = ours.find({l, name});
      out[it == ours.end() ? name : it->second] = std::move(outcome);
    }
  }
  co_return out;
}

void link::merge_reverse(mirror_status& status) {
  if (!reverse_) return;
  const std::string there = mirror_name(status.source_topic);
  auto theirs = reverse_->mirror(there);
  const auto* record = reverse_->lifecycle().record_of(there);
  if (!theirs || record == nullptr) return;
  // Both directions' switches, in time order, and both sides' divergent records.
  auto history = std::move(status.history);
  history.insert(history.end(), theirs->history.begin(), theirs->history.end());
  std::ranges::stable_sort(history, {}, &switch_result::completed_at_ms);
  auto ranges = std::move(status.divergent_ranges);
  ranges.insert(ranges.end(), theirs->divergent_ranges.begin(), theirs->divergent_ranges.end());
  if (holder(status.source_topic).first == reverse_.get()) status = std::move(*theirs);
  status.history = std::move(history);
  status.divergent_ranges = std::move(ranges);
}

}  // namespace klink::linker
