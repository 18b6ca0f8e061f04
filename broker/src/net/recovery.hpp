#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <vector>

#include "kabar/broker/engine.hpp"
#include "kabar/broker/fanout.hpp"
#include "kabar/v1/kabar.pb.h"

namespace kabar::broker {

/// A subscription recovering from history (`since` or `resume`): replayed a page at a time, one
/// read in flight per connection, so that a catch-up of any length needs memory for two pages
/// only. Its subscription is live already and holds live deliveries back (Catchup) until the
/// replay has reached them.
/// @note No sockets: the session reads the pages and sends what they hold.
struct Recovery {
  std::uint32_t request_id = 0;  ///< the Subscribe it answers
  std::string pattern;
  v1::Filter filter;
  std::uint64_t subscription_id = 0;    ///< its Catchup in the Fanout
  std::vector<v1::TopicPosition> from;  ///< where the next page starts, advanced page by page
  bool replied = false;                 ///< its SubscribeResult is sent
  std::size_t bytes = 0;  ///< of the resume positions asked for: counted until it ends

  static constexpr std::size_t kPageBytes = 512 * 1024;

  /// The read of its next page.
  [[nodiscard]] ReadRequest next_page() const;
  /// Before the first page is replayed: what the client has (`from`) is never sent again live.
  void start(Catchup& catchup) const;
  /// Replays `page` (recoverable): every delivery `filter` accepts goes to `deliver`, in order;
  /// `from` moves past what was replayed. True when it has caught up with the live stream: the
  /// subscription is live from here.
  bool replay(const ReadResult& page, Catchup& catchup,
              const std::function<void(const std::shared_ptr<const DeliveryBatch>&,
                                       const DeliveryRef&)>& deliver);
  /// The positions asked for cannot be recovered: live from the store's positions in `page`,
  /// nothing at or before them.
  static void give_up(const ReadResult& page, Catchup& catchup);
};

/// A connection's recoveries, served one at a time in the order asked, and what their resume
/// positions keep (against the connection's subscription budget).
class Recoveries {
 public:
  [[nodiscard]] bool empty() const { return list_.empty(); }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }
  /// True when it is the only one: its first page is to be read now.
  bool add(Recovery recovery);
  Recovery& front() { return list_.front(); }
  /// The front one is over. True when another one waits: its first page is to be read now.
  bool next();

 private:
  std::list<Recovery> list_;  // a list: empty, it allocates nothing (a deque does)
  std::size_t bytes_ = 0;
};

}  // namespace kabar::broker
