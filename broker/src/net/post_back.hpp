#pragma once

#include <boost/asio/post.hpp>
#include <memory>
#include <utility>

namespace kabar::broker {

/// A callback for the engine's threads that brings its answer back where `self` lives: it posts
/// `handler(*self, answer...)` to `executor`, keeping `self` alive until then (the last reference
/// to a connection is then released on its own shard).
template <typename Executor, typename Self, typename Handler>
auto post_back(Executor executor, std::shared_ptr<Self> self, Handler handler) {
  return [executor = std::move(executor), self = std::move(self),
          handler = std::move(handler)](auto... answer) mutable {
    boost::asio::post(executor, [self = std::move(self), handler = std::move(handler),
                                 ... answer = std::move(answer)]() mutable {
      handler(*self, std::move(answer)...);
    });
  };
}

}  // namespace kabar::broker
