#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kabar/broker/config.hpp"
#include "kabar/broker/engine.hpp"
#include "kabar/log/v1/log.pb.h"

namespace kabar::broker {

/// What a broker on --store nats knows of the shared log, rebuilt by following it from its
/// first entry: each topic's offsets and where each one's article is (stream sequence, place in
/// the entry), and each article's stored versions. It decides publishes exactly as the SQLite
/// engine does (duplicates, stale versions, the next offsets) and plans history reads.
/// Deterministic: brokers that apply the same entries in the same order know the same, and a
/// write is only accepted by the stream if its writer had applied every entry before it.
/// @note Not thread-safe: the engine's writer thread owns it.
class LogIndex {
 public:
  /// Where one (topic, offset) delivery's article is stored.
  struct Location {
    std::uint64_t seq = 0;    ///< the stream sequence of its entry
    std::int64_t at_ns = 0;   ///< when the entry was stored (what age retention looks at)
    std::uint32_t index = 0;  ///< its place in the entry's `stored`
    std::uint32_t bytes = 0;  ///< the encoded article's size: a read plans a page by it
  };

  /// Each publish of a group, decided against the index as it stands: answered now (a
  /// rejection or a duplicate), or to be written as entry.stored(slot).
  struct Plan {
    std::vector<std::optional<PublishOutcome>> answered;  ///< by request; nullopt: in the entry
    std::vector<std::size_t> slot;                        ///< by request, when not answered
    /// A duplicate of an article earlier in the same group: answered like that one once written.
    std::vector<std::optional<std::size_t>> same_as;
    log::v1::Entry entry;
  };

  /// Decides `requests` as one group (an id published twice in it is stored once); the entry
  /// first releases every held article whose embargo lifted by `now` (ns since the epoch). An
  /// embargo lifting more than `longest_hold_ns` after `now` (the stream's MaxAge; 0: none) is
  /// refused: the stream would drop the entry holding it.
  [[nodiscard]] Plan plan(const std::vector<PublishRequest>& requests, const std::string& epoch,
                          std::int64_t now, std::int64_t longest_hold_ns = 0) const;

  /// Applies the entry stored at `seq` (after every entry before it): registers its articles and
  /// appends their deliveries to `batch`; `results` (when given) gets one PublishResult per
  /// entry.stored (a release's is empty). An entry at or below applied_seq() is ignored (false).
  bool apply(std::uint64_t seq, std::int64_t at_ns, const log::v1::Entry& entry,
             const std::string& epoch, bool with_json, DeliveryBatch& batch,
             std::vector<v1::PublishResult>* results);

  /// Every topic matching `pattern`, sorted by name.
  [[nodiscard]] std::vector<TopicState> topics(const std::string& pattern, bool last_times,
                                               const std::string& epoch) const;

  /// Where offsets (after, after + count] of topic `name` are, as far as they are still stored,
  /// stopping once the articles found cross `max_bytes`.
  [[nodiscard]] std::vector<Location> locate(const std::string& name, std::uint64_t after,
                                             std::size_t count,
                                             std::size_t max_bytes = SIZE_MAX) const;

  /// Trims each topic by its retention limits (logically: the stream's own MaxAge removes the
  /// entries later). Returns how many deliveries were dropped.
  std::size_t trim(const Retention& retention, std::int64_t now_ns);

  /// When the earliest held article's embargo lifts (ns since the epoch), if one is held.
  [[nodiscard]] std::optional<std::int64_t> next_release_ns() const;

  [[nodiscard]] std::uint64_t applied_seq() const { return applied_seq_; }
  [[nodiscard]] std::size_t topic_count() const { return topics_.size(); }

 private:
  struct Topic {
    std::uint64_t last_offset = 0;
    std::deque<Location> stored;  ///< offsets last_offset - stored.size() + 1 .. last_offset
  };
  using Where = std::pair<std::uint64_t, std::uint32_t>;  // (seq, index) of a stored article
  // One stored version of an article: what a duplicate of it is answered. Kept small, as there
  // is one per retained version: the topic names are topics_' keys (never erased).
  struct Version {
    std::uint32_t number = 0;
    bool held = false;  ///< under embargo: no offsets yet
    Where where;
    std::vector<std::pair<const std::string*, std::uint64_t>> offsets;  ///< in article order
  };
  using Versions = std::vector<Version>;  ///< by number: most articles have one
  struct Held {
    std::int64_t until_ns = 0;  ///< saturated: an embargo past 2262 holds
    std::string article;        ///< encoded, for its release
    std::int64_t accepted_at_ns = 0;
  };
  struct Stored {  // one article version given its offsets: stored released, or a release
    const std::string& article;
    std::int64_t accepted_at_ns;
    const google::protobuf::RepeatedField<std::uint64_t>& offsets;
  };

  static const Version* find_version(const Versions& versions, std::uint32_t number);
  /// The version of `article`'s id and version number, added (empty) if it is new.
  Version& version_of(const v1::Article& article);
  /// A new version of an article supersedes every older one still held: never released.
  void supersede_held(const v1::Article& article);
  void add_version(const v1::Article& article, Where where, const Stored& stored,
                   std::int64_t at_ns, const std::string& epoch, bool with_json,
                   DeliveryBatch& batch, v1::PublishResult* result);

  void describe(const std::string& id, std::uint32_t version, const Version& stored,
                const std::string& epoch, v1::PublishResult& result) const;

  std::map<std::string, Topic, std::less<>> topics_;
  std::unordered_map<std::string, Versions> articles_;
  std::map<Where, Held> held_;
  std::uint64_t applied_seq_ = 0;
  std::uint64_t next_delivery_sequence_ = 1;
};

}  // namespace kabar::broker
