#include "kabar/client/resume.hpp"

#include "kabar/common/topic.hpp"

namespace kabar::client {

void ResumePositions::asked(const v1::Subscribe& request) {
  if (request.has_since()) positions_[request.topic()] = request.since();
  for (const auto& position : request.resume().positions()) {
    positions_[position.topic()] = position.position();
  }
}

void ResumePositions::delivered(const v1::Delivery& delivery) {
  auto& position = positions_[delivery.topic()];
  position.set_offset(delivery.offset());
  position.set_epoch(delivery.epoch());
}

void ResumePositions::answered(const v1::SubscribeResult& result) {
  // Recovered: the positions given are the topics' ends, which the replay has yet to reach;
  // taken now, a connection lost mid-replay would resume past what it never received.
  if (result.recovered()) return;
  for (const auto& position : result.positions())
    positions_[position.topic()] = position.position();
}

void ResumePositions::resume(v1::Subscribe& subscribe) const {
  if (!is_pattern(subscribe.topic())) {
    const auto it = positions_.find(subscribe.topic());
    if (it != positions_.end()) {
      *subscribe.mutable_since() = it->second;
    } else {
      subscribe.mutable_since();  // nothing seen yet: everything stored
    }
    return;
  }
  auto* resume = subscribe.mutable_resume();
  for (const auto& [topic, position] : positions_) {
    auto* entry = resume->add_positions();
    entry->set_topic(topic);
    *entry->mutable_position() = position;
  }
}

}  // namespace kabar::client
