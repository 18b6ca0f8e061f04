#include "kabar/broker/engine.hpp"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <iterator>
#include <random>
#include <utility>

namespace kabar::broker {

bool PublishQueue::push(std::vector<PublishRequest> requests) {
  std::lock_guard lock(mutex_);
  const bool was_empty = pending_.empty();
  if (was_empty) {
    pending_ = std::move(requests);
  } else {
    std::move(requests.begin(), requests.end(), std::back_inserter(pending_));
  }
  return was_empty;
}

std::vector<PublishRequest> PublishQueue::take() {
  std::lock_guard lock(mutex_);
  return std::exchange(pending_, {});
}

void add_delivery(DeliveryBatch& batch, const DeliveryEntry& entry,
                  const std::string* article_json) {
  DeliveryRef ref{.topic = std::string(entry.header.topic),
                  .offset = entry.header.offset,
                  .sequence = entry.sequence,
                  .urgency = entry.urgency,
                  .language = std::string(entry.language),
                  .begin = batch.bytes.size(),
                  .size = 0,
                  .json_begin = batch.json.size(),
                  .json_size = 0};
  append_delivery(batch.bytes, entry.header, entry.article_bytes);
  ref.size = batch.bytes.size() - ref.begin;
  if (article_json != nullptr) {
    append_json_delivery(batch.json, entry.header, *article_json);
    ref.json_size = batch.json.size() - ref.json_begin;
  }
  batch.deliveries.push_back(std::move(ref));
}

std::string article_json(std::string_view article_bytes) {
  v1::Article article;
  std::string json;
  if (!article.ParseFromArray(article_bytes.data(), static_cast<int>(article_bytes.size())) ||
      !google::protobuf::util::MessageToJsonString(article, &json).ok()) {
    return {};
  }
  return json;
}

std::string random_epoch(std::string_view prefix) {
  std::random_device device;
  std::uniform_int_distribution<std::uint32_t> hex(0, 15);
  std::string epoch(prefix);
  for (int i = 0; i < 16; ++i) epoch.push_back("0123456789abcdef"[hex(device)]);
  return epoch;
}

std::unordered_map<std::string_view, const v1::Position*> positions_by_topic(
    const std::vector<v1::TopicPosition>& from) {
  std::unordered_map<std::string_view, const v1::Position*> by_topic;
  by_topic.reserve(from.size());
  for (const auto& position : from) by_topic.emplace(position.topic(), &position.position());
  return by_topic;
}

std::optional<std::string> unrecoverable(const TopicState& topic, const v1::Position& from) {
  if (from.offset() == 0 && from.epoch().empty()) {
    if (topic.last_offset == 0 || topic.first_offset == 1) return std::nullopt;
    return fmt::format("'{}' no longer holds its first articles (retention): the oldest is {}",
                       topic.topic, topic.first_offset);
  }
  if (from.epoch().empty()) return fmt::format("a position in '{}' needs its epoch", topic.topic);
  if (topic.epoch.empty()) {
    return fmt::format("'{}' has no history here (epoch {} is gone)", topic.topic, from.epoch());
  }
  if (from.epoch() != topic.epoch) {
    return fmt::format("'{}' has a new history (epoch {} is gone, now {})", topic.topic,
                       from.epoch(), topic.epoch);
  }
  if (from.offset() > topic.last_offset) {
    return fmt::format("offset {} is past the last offset of '{}' ({})", from.offset(), topic.topic,
                       topic.last_offset);
  }
  if (from.offset() == topic.last_offset) return std::nullopt;  // nothing missed
  if (topic.first_offset == 0 || from.offset() + 1 < topic.first_offset) {
    return fmt::format("'{}' no longer reaches back to offset {} (retention): the oldest is {}",
                       topic.topic, from.offset() + 1, topic.first_offset);
  }
  return std::nullopt;
}

}  // namespace kabar::broker
