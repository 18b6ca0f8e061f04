#include "net/recovery.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "kabar/common/article.hpp"

namespace kabar::broker {

namespace {

void go_live(Catchup& catchup) {
  catchup.replaying = false;
  catchup.live_seen.clear();
}

}  // namespace

ReadRequest Recovery::next_page() const {
  return {.pattern = pattern,
          .from = from,
          .check_from = true,
          .max_bytes = kPageBytes,
          .max_count = SIZE_MAX};
}

void Recovery::start(Catchup& catchup) const {
  for (const auto& position : from) {
    auto& replayed = catchup.replayed[position.topic()];
    replayed = std::max(replayed, position.position().offset());
  }
}

bool Recovery::replay(const ReadResult& page, Catchup& catchup,
                      const std::function<void(const std::shared_ptr<const DeliveryBatch>&,
                                               const DeliveryRef&)>& deliver) {
  for (const auto& ref : page.batch->deliveries) {
    catchup.replayed[ref.topic] = ref.offset;
    if (filter_accepts(filter, ref.urgency, ref.language)) deliver(page.batch, ref);
  }
  // The next page starts after the last offset of each topic replayed so far.
  from.clear();
  for (const auto& topic : page.topics) {
    auto& next = from.emplace_back();
    next.set_topic(topic.topic);
    const auto replayed = catchup.replayed.find(topic.topic);
    next.mutable_position()->set_offset(replayed != catchup.replayed.end() ? replayed->second : 0);
    next.mutable_position()->set_epoch(topic.epoch);
  }
  if (!page.complete || !catchup.caught_up()) return false;
  go_live(catchup);
  return true;
}

void Recovery::give_up(const ReadResult& page, Catchup& catchup) {
  go_live(catchup);
  for (const auto& topic : page.topics) catchup.replayed[topic.topic] = topic.last_offset;
}

bool Recoveries::add(Recovery recovery) {
  bytes_ += recovery.bytes;
  list_.push_back(std::move(recovery));
  return list_.size() == 1;
}

bool Recoveries::next() {
  bytes_ -= list_.front().bytes;
  list_.pop_front();
  return !list_.empty();
}

}  // namespace kabar::broker
