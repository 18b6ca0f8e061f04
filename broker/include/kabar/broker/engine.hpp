#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kabar/broker/frames.hpp"
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
  std::size_t json_begin = 0;  ///< into DeliveryBatch::json, when the batch has it
  std::size_t json_size = 0;
};

/// Deliveries committed together, encoded once into one contiguous buffer that every subscriber
/// shares. Each ref's bytes are a complete encoded ServerMessage holding that one Delivery, so
/// any run of them concatenated is a valid ServerMessage too. Immutable once published.
struct DeliveryBatch {
  std::string bytes;
  /// The same deliveries in protobuf's JSON mapping, one ServerMessage each (JSON documents do
  /// not concatenate), for connections on kabar.v1.json; empty while none is connected.
  std::string json;
  std::vector<DeliveryRef> deliveries;
  std::chrono::steady_clock::time_point stored_at;  ///< handed to the sink (fan-out latency)
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
  /// When it was read (the publish-wait metric).
  std::chrono::steady_clock::time_point read_at = std::chrono::steady_clock::now();
};

/// One topic as the engine knows it.
struct TopicState {
  std::string topic;
  std::string epoch;
  std::uint64_t first_offset = 0;  ///< the oldest offset still stored; 0 when none is
  std::uint64_t last_offset = 0;   ///< the topic's position: the last offset assigned
  /// When the article at last_offset was sequenced (ns since the epoch), when the read asked for
  /// it (ReadRequest::last_times) and the engine still knows; 0 otherwise.
  std::int64_t last_at_ns = 0;
};

/// A read of stored history, for recovery and for the HTTP read path.
struct ReadRequest {
  std::string pattern;  ///< a topic or a pattern
  /// Read the offsets after these; a matching topic not listed is read from its start.
  std::vector<v1::TopicPosition> from;
  /// Refuse (not_recoverable) unless every offset after `from` is still stored in the epoch given.
  bool check_from = true;
  std::size_t max_bytes = 512 * 1024;  ///< the batch stops after crossing this
  std::size_t max_count = SIZE_MAX;    ///< ... or after this many deliveries
  bool last_times = false;             ///< fill TopicState::last_at_ns (a topic listing)
};

struct ReadResult {
  std::optional<std::string> not_recoverable;  ///< why, when check_from failed; then no batch
  std::vector<TopicState> topics;  ///< every matching topic, as of this read, sorted by name
  /// Deliveries after `from`, each topic's in offset order, as encoded for a subscriber.
  std::shared_ptr<const DeliveryBatch> batch;
  bool complete = true;  ///< every matching topic was read up to its last offset
};

/// Why the offsets after `from` cannot all be read from `topic` (another epoch, past its last
/// offset, or trimmed by retention); nullopt when they can. Position {0, ""} means "from the
/// start, whatever the epoch".
[[nodiscard]] std::optional<std::string> unrecoverable(const TopicState& topic,
                                                       const v1::Position& from);

/// A new epoch: `prefix` and 16 random hex digits, drawn when a history begins.
[[nodiscard]] std::string random_epoch(std::string_view prefix = {});

/// `from` by topic name, viewing into it: a resume may list thousands of topics, and a scan per
/// matching topic would make a read quadratic.
[[nodiscard]] std::unordered_map<std::string_view, const v1::Position*> positions_by_topic(
    const std::vector<v1::TopicPosition>& from);

/// Publishes handed over by the I/O threads, waiting for the engine's thread to take them all at
/// once: the first hand-over after a take schedules the next one, so a burst becomes one batch.
class PublishQueue {
 public:
  /// Adds `requests`; true when the queue was empty, i.e. when the caller must schedule a take.
  [[nodiscard]] bool push(std::vector<PublishRequest> requests);
  /// Everything queued, in order; the queue is left empty.
  std::vector<PublishRequest> take();

 private:
  std::mutex mutex_;
  std::vector<PublishRequest> pending_;  // guarded by mutex_
};

/// @note Thread-safe: call from any thread. Callbacks run on one of the engine's threads, or on
/// the caller's before the call returns (MemoryEngine), and must not block: post them to your
/// executor.
/// Which encodings of deliveries the connections need besides protobuf: counted by the sessions,
/// read by the engines as they build each batch, so that a batch is encoded to JSON once, and
/// only while a connection reads JSON.
/// @note Thread-safe.
class EncodingDemand {
 public:
  void json_reader_joined() { json_readers_.fetch_add(1, std::memory_order_relaxed); }
  void json_reader_left() { json_readers_.fetch_sub(1, std::memory_order_relaxed); }
  [[nodiscard]] bool json() const { return json_readers_.load(std::memory_order_relaxed) > 0; }

 private:
  std::atomic<int> json_readers_{0};
};

/// One delivery for add_delivery(): where it goes, and the article it carries.
struct DeliveryEntry {
  DeliveryHeader header;
  std::string_view article_bytes;  ///< the encoded Article
  std::uint64_t sequence = 0;
  std::uint32_t urgency = 0;
  std::string_view language;
};

/// Appends one delivery to `batch` (bytes and ref); with `article_json` (the article in
/// protobuf's JSON mapping, made once per article by article_json()), its JSON too.
void add_delivery(DeliveryBatch& batch, const DeliveryEntry& entry,
                  const std::string* article_json);

/// An encoded Article in protobuf's JSON mapping; empty when the bytes do not parse.
[[nodiscard]] std::string article_json(std::string_view article_bytes);

class Engine {
 public:
  using ReadCallback = std::function<void(ReadResult)>;
  using BatchSink = std::function<void(std::shared_ptr<const DeliveryBatch>)>;

  virtual ~Engine() = default;

  /// Sequences each article into each of its topics, in order; each `done` acknowledges its
  /// article once stored (a duplicate with its first offsets, an embargoed article with none).
  /// The deliveries reach the BatchSink given at construction after they are stored, before or
  /// after `done`. Callers hand over everything they have at once: a batch in, a batch out.
  virtual void publish(std::vector<PublishRequest> requests) = 0;

  /// Calls `done` once everything handed to publish() before is stored and acknowledged (its
  /// `done` callbacks have run): for a drain on shutdown.
  virtual void flush(std::function<void()> done) = 0;

  /// Reads history. A read that starts after a batch reached the sink sees that batch's
  /// articles: what the sink has delivered is never missing from a later read.
  virtual void read(ReadRequest request, ReadCallback done) = 0;

  /// What the batches must carry besides protobuf.
  EncodingDemand& demand() { return demand_; }

 private:
  EncodingDemand demand_;
};

}  // namespace kabar::broker
