#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kabar/common/article.hpp"
#include "kabar/v1/kabar.pb.h"

/// The seam between the WebSocket front end and where articles live (SPEC section 2).
///
/// An engine assigns each topic's offsets, stores (or, in memory, only sequences) articles and
/// hands every committed batch of deliveries to the fan-out. The front end never waits on it:
/// every call returns at once and completes through a callback.
namespace kabar::broker {

/// One (topic, offset) delivery inside a DeliveryBatch: where its encoded bytes are, and what
/// subscription filters look at.
struct DeliveryRef {
  std::string topic;
  std::uint64_t offset = 0;
  std::uint64_t sequence = 0;  ///< unique and increasing across batches: per-connection dedupe
  std::uint32_t urgency = 0;
  std::string language;
  std::size_t begin = 0;  ///< into DeliveryBatch::bytes
  std::size_t size = 0;
};

/// Deliveries committed together, encoded once into one contiguous buffer that every subscriber
/// shares. Each ref's bytes are a complete encoded ServerMessage holding that one Delivery, so
/// any run of them concatenated is a valid ServerMessage too. Immutable once published.
struct DeliveryBatch {
  std::string bytes;
  std::vector<DeliveryRef> deliveries;
};

/// What a publish came to: a rejection, or the result to acknowledge.
struct PublishOutcome {
  std::optional<Rejection> rejection;
  v1::PublishResult result;
};

/// One article to publish, and who to tell.
struct PublishRequest {
  v1::Article article;  ///< validated
  google::protobuf::Timestamp accepted_at;
  std::function<void(PublishOutcome)> done;
};

/// @note Thread-safe: call from any thread. Callbacks run on the engine's own thread and must
/// not block: post them to your executor.
class Engine {
 public:
  using PositionsCallback = std::function<void(std::vector<v1::TopicPosition>)>;
  using BatchSink = std::function<void(std::shared_ptr<const DeliveryBatch>)>;

  virtual ~Engine() = default;

  /// Sequences each article into each of its topics, in order; each `done` acknowledges its
  /// article once stored. The deliveries reach the BatchSink given at construction, before or
  /// after `done`. Callers hand over everything they have at once: a batch in, a batch out.
  virtual void publish(std::vector<PublishRequest> requests) = 0;

  /// The current position of every existing topic that the topic or pattern matches.
  virtual void positions(std::string pattern, PositionsCallback done) = 0;
};

}  // namespace kabar::broker
