// The one way klink code includes Boost.Asio.
//
// Boost 1.74's asio/awaitable.hpp uses std::exchange without including
// <utility>; with g++ 12 any translation unit that includes Asio first fails.
// Everything that needs Asio includes this header instead.
#pragma once

#include <utility>

#include <boost/asio.hpp>

namespace klink {
namespace asio = boost::asio;
}  // namespace klink
