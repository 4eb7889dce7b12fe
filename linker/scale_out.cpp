// Scale-out: the link as one member of its group on the destination cluster
// (see "Scale-out" in linker/README.md).
#include "linker/link.h"

namespace klink::linker {

asio::awaitable<std::expected<std::vector<member_share>, std::string>> link::describe_members(
    std::string* group_state) {
  if (!membership_)
    co_return std::unexpected("link " + options_.name + " does not run scale-out");
  co_return co_await membership_->describe(group_state);
}

}  // namespace klink::linker
