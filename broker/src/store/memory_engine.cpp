#include "kabar/broker/memory_engine.hpp"

#include <algorithm>

#include "kabar/broker/frames.hpp"
#include "kabar/common/time.hpp"
#include "kabar/common/topic.hpp"

namespace kabar::broker {
MemoryEngine::MemoryEngine(BatchSink sink) : sink_(std::move(sink)), epoch_(random_epoch("mem-")) {}

void MemoryEngine::publish(std::vector<PublishRequest> publishes) {
  if (publishes.empty()) return;
  auto batch = std::make_shared<DeliveryBatch>();
  std::vector<PublishOutcome> outcomes(publishes.size());
  std::string article_bytes;
  std::string json;  // the article's, while a connection reads JSON
  const bool with_json = demand().json();
  const auto now = current_nanoseconds();
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < publishes.size(); ++i) {
    const auto& article = publishes[i].article;
    auto& result = outcomes[i].result;
    // Nothing here could hold it until its time: delivering it now would break the embargo.
    if (article.has_embargoed() && saturating_nanoseconds(article.embargoed()) > now) {
      outcomes[i].rejection =
          Rejection{v1::Error::BAD_REQUEST,
                    "article.embargoed is in the future, and this broker (--store memory) keeps no "
                    "articles to hold: publish it when the embargo lifts, or use --store sqlite"};
      continue;
    }
    result.set_id(article.id());
    result.set_version(article.version());
    result.set_epoch(epoch_);
    article.SerializeToString(&article_bytes);
    if (with_json) json = article_json(article_bytes);
    for (const auto& topic : article.topics()) {
      auto& position = topics_[topic];
      const auto offset = ++position.last_offset;
      position.last_at_ns = now;
      auto* topic_offset = result.add_offsets();
      topic_offset->set_topic(topic);
      topic_offset->set_offset(offset);
      topic_offset->set_epoch(epoch_);

      add_delivery(*batch,
                   {.header = {.topic = topic,
                               .offset = offset,
                               .epoch = epoch_,
                               .accepted_at = &publishes[i].accepted_at},
                    .article_bytes = article_bytes,
                    .sequence = next_sequence_++,
                    .urgency = article.urgency(),
                    .language = article.language()},
                   with_json ? &json : nullptr);
    }
  }
  // Acknowledgements first: they are then queued on the publishers' shards ahead of the batch's
  // fan-out, so a publisher does not wait for thousands of subscriber writes. The sink is called
  // under the lock: batches reach it in offset order, whichever thread published them.
  for (std::size_t i = 0; i < publishes.size(); ++i) publishes[i].done(std::move(outcomes[i]));
  batch->stored_at = std::chrono::steady_clock::now();
  if (!batch->deliveries.empty()) sink_(std::move(batch));
}

void MemoryEngine::flush(std::function<void()> done) {
  { std::lock_guard lock(mutex_); }  // a publish under way on another thread has finished
  done();
}

void MemoryEngine::read(ReadRequest request, ReadCallback done) {
  ReadResult result;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [topic, position] : topics_) {
      if (topic_matches(request.pattern, topic)) {
        result.topics.push_back({.topic = topic,
                                 .epoch = epoch_,
                                 .first_offset = 0,
                                 .last_offset = position.last_offset,
                                 .last_at_ns = request.last_times ? position.last_at_ns : 0});
      }
    }
  }
  std::sort(result.topics.begin(), result.topics.end(),
            [](const auto& a, const auto& b) { return a.topic < b.topic; });
  result.batch = std::make_shared<DeliveryBatch>();
  if (!request.check_from) return done(std::move(result));
  // No history: recoverable only when nothing was missed.
  const auto from_by_topic = positions_by_topic(request.from);
  for (const auto& topic : result.topics) {
    const auto from = from_by_topic.find(topic.topic);
    if (auto why =
            unrecoverable(topic, from != from_by_topic.end() ? *from->second : v1::Position())) {
      result.not_recoverable = std::move(why);
      break;
    }
  }
  done(std::move(result));
}

}  // namespace kabar::broker
