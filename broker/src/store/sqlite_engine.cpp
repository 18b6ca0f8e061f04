#include "kabar/broker/sqlite_engine.hpp"

#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <google/protobuf/util/time_util.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>
#include <unordered_map>
#include <unordered_set>

#include "base/log.hpp"
#include "kabar/broker/frames.hpp"
#include "kabar/common/time.hpp"
#include "kabar/common/topic.hpp"
#include "store/worker_thread.hpp"

namespace kabar::broker {

namespace net = boost::asio;
using google::protobuf::util::TimeUtil;

namespace {

constexpr int kSchemaVersion = 1;

// articles: one row per stored article version; held_until is set while an embargo holds it
// (it has no deliveries yet). deliveries: one row per (topic, offset), `n` the topic's place in
// the article's list, `at` when it was sequenced (what age retention looks at).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS topics(
  name TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  last_offset INTEGER NOT NULL,
  trimmed_through INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS articles(
  seq INTEGER PRIMARY KEY,
  article_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  accepted_at INTEGER NOT NULL,
  urgency INTEGER NOT NULL,
  language TEXT NOT NULL,
  held_until INTEGER,
  body BLOB NOT NULL,
  UNIQUE(article_id, version));
CREATE INDEX IF NOT EXISTS articles_held ON articles(held_until) WHERE held_until IS NOT NULL;
CREATE TABLE IF NOT EXISTS deliveries(
  topic TEXT NOT NULL,
  offset INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  n INTEGER NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY(topic, offset)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_by_article ON deliveries(seq);
)sql";

std::int64_t now_ns() {
  return current_nanoseconds();
}

// An embargo timer never waits longer than this before it looks again: a wall-clock change or an
// embargo past what steady_clock can count is then only a re-check away.
constexpr std::chrono::seconds kMaxEmbargoWait{60};

// SQLite's and quick_check's messages may span lines; the broker reports a store on one.
std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  return text;
}

std::int64_t to_i64(std::uint64_t value) {
  return static_cast<std::int64_t>(value);
}
std::uint64_t to_u64(std::int64_t value) {
  return static_cast<std::uint64_t>(value);
}

// One stored article as a DeliveryBatch entry needs it.
struct StoredArticle {
  std::string_view body;  // the encoded Article
  std::int64_t accepted_at_ns = 0;
  std::uint32_t urgency = 0;
  std::string_view language;
};

// `json`: the article in JSON (article_json), once per article, while a connection reads JSON
// (EncodingDemand); null otherwise.
void append_stored(DeliveryBatch& batch, const std::string& topic, std::uint64_t offset,
                   const std::string& epoch, const StoredArticle& article, std::uint64_t sequence,
                   const std::string* json) {
  const auto accepted_at = TimeUtil::NanosecondsToTimestamp(article.accepted_at_ns);
  add_delivery(
      batch,
      {.header = {.topic = topic, .offset = offset, .epoch = epoch, .accepted_at = &accepted_at},
       .article_bytes = article.body,
       .sequence = sequence,
       .urgency = article.urgency,
       .language = article.language},
      json);
}

}  // namespace

class SqliteEngine::Impl {
 public:
  Impl(StoreOptions options, BatchSink sink, LatencyHistogram* commit_latency,
       const EncodingDemand& demand)
      : options_(std::move(options)),
        sink_(std::move(sink)),
        commit_latency_(commit_latency),
        demand_(demand),
        db_(open_writer()) {
    reader_db_ = std::make_unique<SQLite::Database>(path_, SQLite::OPEN_READONLY, 5000);
    load_topics();
    writer_.start();
    reader_.start();
    net::post(writer_.ioc, [this] {
      schedule_embargo();
      schedule_sweep();
    });
  }

  ~Impl() {
    // Let the writer finish what was handed to it: everything acknowledged stays acknowledged.
    std::promise<void> drained;
    net::post(writer_.ioc, [this, &drained] {
      drain();
      drained.set_value();
    });
    drained.get_future().wait();
    writer_.stop();
    reader_.stop();
  }

  void publish(std::vector<PublishRequest> requests) {
    if (queue_.push(std::move(requests))) net::post(writer_.ioc, [this] { drain(); });
  }

  void flush(std::function<void()> done) {
    net::post(writer_.ioc, [this, done = std::move(done)] {
      drain();
      done();
    });
  }

  void read(ReadRequest request, ReadCallback done) {
    net::post(reader_.ioc, [this, request = std::move(request), done = std::move(done)] {
      ReadResult result;
      try {
        result = read_now(request);
      } catch (const SQLite::Exception& e) {
        logging::error({"store.history_read_failed"}, "store: history read of '{}' failed: {}",
                       request.pattern, e.what());
        result = {};
        result.not_recoverable = std::string("the store could not be read: ") + e.what();
      }
      done(std::move(result));
    });
  }

 private:
  struct TopicRow {
    std::string epoch;
    std::uint64_t last_offset = 0;
    bool created = false;  // in this transaction: INSERT rather than UPDATE
    bool dirty = false;
  };

  // ------------------------------------------------------------------ opening

  // A copy made by SqliteEngine::backup() holds the history up to the backup, but its offsets
  // may since have been handed out again to other articles by the store it was taken from:
  // readers resuming from after the backup would skip the articles stored here under their
  // offsets. So the first broker to open it draws every topic a new epoch: resuming readers are
  // told what they missed cannot be recovered, never given a silent gap.
  void forget_epochs_if_restored(SQLite::Database& db) {
    SQLite::Statement marker(db, "SELECT value FROM meta WHERE key = 'backup_taken_at'");
    if (!marker.executeStep()) return;
    const auto taken_at = marker.getColumn(0).getInt64();
    SQLite::Statement topics(db, "SELECT name FROM topics");
    SQLite::Statement update(db, "UPDATE topics SET epoch = ? WHERE name = ?");
    std::size_t count = 0;
    while (topics.executeStep()) {
      update.bind(1, random_epoch());
      update.bind(2, topics.getColumn(0).getString());
      update.exec();
      update.reset();
      ++count;
    }
    db.exec("DELETE FROM meta WHERE key = 'backup_taken_at'");
    logging::warn({"store.restored"},
                  "store: {} is a backup taken at {}: its {} topics begin new epochs, and readers "
                  "resuming from before are told that what they missed cannot be recovered",
                  path_, TimeUtil::ToString(TimeUtil::NanosecondsToTimestamp(taken_at)), count);
  }

  SQLite::Database open_writer() {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(options_.data_dir, ec);
    if (ec) {
      throw StoreError("cannot create data directory " + options_.data_dir.string() + ": " +
                       ec.message());
    }
    path_ = (options_.data_dir / "kabar.db").string();
    // SQLite takes an empty file for a new database: after a bad restore that would be a new
    // history under new epochs, silently. Only an operator's explicit word allows it.
    if (fs::exists(path_, ec) && fs::is_regular_file(path_, ec) && fs::file_size(path_, ec) == 0 &&
        !options_.allow_empty_store) {
      throw StoreError(path_ +
                       " is empty (0 bytes), as a truncated copy or a failed restore "
                       "leaves it: restore it, remove it, or start with --allow-empty-store to "
                       "begin a new history there");
    }
    try {
      SQLite::Database db(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, 5000);
      const auto mode = db.execAndGet("PRAGMA journal_mode=WAL").getString();
      if (mode != "wal") throw StoreError("cannot switch " + path_ + " to WAL mode (" + mode + ")");
      db.exec(options_.durability == Durability::kFull ? "PRAGMA synchronous=FULL"
                                                       : "PRAGMA synchronous=NORMAL");
      // A damaged file must stop the broker now, not fail reads later (seconds per GiB).
      const auto check = db.execAndGet("PRAGMA quick_check(1)").getString();
      if (check != "ok") throw StoreError(path_ + " is damaged: " + one_line(check));
      SQLite::Transaction transaction(db);
      db.exec(kSchema);
      SQLite::Statement version(db, "SELECT value FROM meta WHERE key = 'schema_version'");
      if (version.executeStep()) {
        if (version.getColumn(0).getInt() != kSchemaVersion) {
          throw StoreError(path_ + " has schema version " + version.getColumn(0).getString() +
                           "; this broker reads version " + std::to_string(kSchemaVersion));
        }
      } else {
        db.exec("INSERT INTO meta VALUES('schema_version', " + std::to_string(kSchemaVersion) +
                ")");
      }
      forget_epochs_if_restored(db);
      // Proves the file is writable now, not at the first publish.
      SQLite::Statement opened(db, "INSERT OR REPLACE INTO meta VALUES('opened_at', ?)");
      opened.bind(1, now_ns());
      opened.exec();
      transaction.commit();
      return db;
    } catch (const SQLite::Exception& e) {
      throw StoreError("cannot use " + path_ + ": " + one_line(e.what()));
    }
  }

  void load_topics() {
    SQLite::Statement select(db_, "SELECT name, epoch, last_offset FROM topics");
    while (select.executeStep()) {
      topics_[select.getColumn(0).getString()] =
          TopicRow{select.getColumn(1).getString(), to_u64(select.getColumn(2).getInt64())};
    }
  }

  // ------------------------------------------------------------------ writer thread

  // Group commit: everything pending goes into one transaction, acknowledged after it.
  void drain() {
    auto publishes = queue_.take();
    if (publishes.empty()) return;
    auto batch = std::make_shared<DeliveryBatch>();
    std::vector<PublishOutcome> outcomes(publishes.size());
    bool held = false;
    const auto started = std::chrono::steady_clock::now();
    try {
      SQLite::Transaction transaction(db_);
      for (std::size_t i = 0; i < publishes.size(); ++i) {
        held |= store(publishes[i], outcomes[i], *batch);
      }
      write_topics();
      transaction.commit();
      reset_statements();
      if (commit_latency_ != nullptr) {
        commit_latency_->record(std::chrono::steady_clock::now() - started);
      }
    } catch (const SQLite::Exception& e) {
      reset_statements();
      logging::error({"store.commit_failed"}, "store: commit of {} publishes failed: {}",
                     publishes.size(), e.what());
      abandon_topics();
      batch = std::make_shared<DeliveryBatch>();
      for (auto& outcome : outcomes) {
        outcome.rejection = Rejection{v1::Error::UNAVAILABLE,
                                      std::string("the store could not commit: ") + e.what()};
      }
    }
    for (std::size_t i = 0; i < publishes.size(); ++i) publishes[i].done(std::move(outcomes[i]));
    batch->stored_at = std::chrono::steady_clock::now();
    if (!batch->deliveries.empty()) sink_(std::move(batch));
    if (held) schedule_embargo();
  }

  // Stores one publish in the open transaction; true when it is held by an embargo.
  bool store(const PublishRequest& request, PublishOutcome& outcome, DeliveryBatch& batch) {
    const auto& article = request.article;
    auto& result = outcome.result;
    result.set_id(article.id());
    result.set_version(article.version());

    find_latest_.reset();
    find_latest_.bind(1, article.id());
    const bool has_older = find_latest_.executeStep();  // else the first version of this id
    if (has_older) {
      const auto latest = find_latest_.getColumn(0).getUInt();
      if (latest > article.version()) {
        find_version_.reset();
        find_version_.bind(1, article.id());
        find_version_.bind(2, article.version());
        if (!find_version_.executeStep()) {
          outcome.rejection = Rejection{
              v1::Error::BAD_REQUEST,
              "article '" + article.id() + "' version " + std::to_string(article.version()) +
                  " is older than its stored version " + std::to_string(latest) +
                  ": a correction needs a higher version"};
          return false;
        }
        describe_duplicate(find_version_.getColumn(0).getInt64(), find_version_.getColumn(1),
                           result);
        return false;
      }
      if (latest == article.version()) {
        describe_duplicate(find_latest_.getColumn(1).getInt64(), find_latest_.getColumn(2), result);
        return false;
      }
    }

    const auto body = article.SerializeAsString();
    const auto accepted_ns = TimeUtil::TimestampToNanoseconds(request.accepted_at);
    // Saturated: an embargo past 2262 ("hold until further notice") holds, it never wraps.
    const auto held_until =
        article.has_embargoed() ? saturating_nanoseconds(article.embargoed()) : std::int64_t{0};
    const bool held = article.has_embargoed() && held_until > now_ns();
    insert_article_.reset();
    insert_article_.bind(1, article.id());
    insert_article_.bind(2, article.version());
    insert_article_.bind(3, accepted_ns);
    insert_article_.bind(4, article.urgency());
    insert_article_.bind(5, article.language());
    if (held) {
      insert_article_.bind(6, held_until);
    } else {
      insert_article_.bind(6);
    }
    insert_article_.bindNoCopy(7, body.data(), static_cast<int>(body.size()));
    insert_article_.exec();
    if (has_older) supersede_held(article.id(), article.version());
    if (held) {
      *result.mutable_embargoed_until() = article.embargoed();
      return true;
    }
    release(db_.getLastInsertRowid(), article.topics(),
            {body, accepted_ns, article.urgency(), article.language()}, batch, &result);
    return false;
  }

  // Gives a stored article its offsets, one per topic, and its deliveries.
  void release(std::int64_t seq, const google::protobuf::RepeatedPtrField<std::string>& topics,
               const StoredArticle& article, DeliveryBatch& batch, v1::PublishResult* result) {
    const auto at = now_ns();
    // Converted once for all of its topics.
    const auto json = demand_.json() ? article_json(article.body) : std::string();
    const auto* with_json = json.empty() ? nullptr : &json;
    int n = 0;
    for (const auto& topic : topics) {
      auto [it, created] = topics_.try_emplace(topic);
      auto& row = it->second;
      if (created) {
        row.epoch = random_epoch();
        row.created = true;
      }
      row.dirty = true;
      const auto offset = ++row.last_offset;
      insert_delivery_.reset();
      insert_delivery_.bind(1, topic);
      insert_delivery_.bind(2, to_i64(offset));
      insert_delivery_.bind(3, seq);
      insert_delivery_.bind(4, n++);
      insert_delivery_.bind(5, at);
      insert_delivery_.exec();
      if (result != nullptr) {
        auto* topic_offset = result->add_offsets();
        topic_offset->set_topic(topic);
        topic_offset->set_offset(offset);
        topic_offset->set_epoch(row.epoch);
        if (result->epoch().empty()) result->set_epoch(row.epoch);
      }
      append_stored(batch, topic, offset, row.epoch, article, next_sequence_++, with_json);
    }
  }

  // A newer version (a correction or a retraction) supersedes every older one still under
  // embargo: that one is never released, whichever embargo lifts first.
  void supersede_held(const std::string& id, std::uint32_t version) {
    supersede_held_.reset();
    supersede_held_.bind(1, id);
    supersede_held_.bind(2, version);
    while (supersede_held_.executeStep()) {
      logging::info({"store.embargo_superseded"},
                    "store: '{}' version {} is superseded by version {} while under embargo: it "
                    "will never be released",
                    id, supersede_held_.getColumn(0).getUInt(), version);
    }
  }

  void describe_duplicate(std::int64_t seq, const SQLite::Column& held_until,
                          v1::PublishResult& result) {
    result.set_duplicate(true);
    if (!held_until.isNull()) {
      // From the article itself: held_until saturates at 2262, the embargo may be later.
      find_body_.reset();
      find_body_.bind(1, seq);
      v1::Article stored;
      if (find_body_.executeStep()) {
        stored.ParseFromArray(find_body_.getColumn(0).getBlob(),
                              find_body_.getColumn(0).getBytes());
      }
      *result.mutable_embargoed_until() = stored.embargoed();
      return;
    }
    find_offsets_.reset();
    find_offsets_.bind(1, seq);
    while (find_offsets_.executeStep()) {
      auto* topic_offset = result.add_offsets();
      topic_offset->set_topic(find_offsets_.getColumn(0).getString());
      topic_offset->set_offset(to_u64(find_offsets_.getColumn(1).getInt64()));
      const auto it = topics_.find(topic_offset->topic());
      if (it != topics_.end()) topic_offset->set_epoch(it->second.epoch);
      if (result.epoch().empty()) result.set_epoch(topic_offset->epoch());
    }
  }

  // A statement left mid-result keeps a read snapshot open, and that would stop checkpoints
  // from ever emptying the write-ahead log.
  void reset_statements() {
    for (auto* statement :
         {&find_latest_, &find_version_, &find_offsets_, &find_body_, &insert_article_,
          &supersede_held_, &insert_delivery_, &insert_topic_, &update_topic_}) {
      statement->tryReset();
    }
  }

  void write_topics() {
    for (auto& [name, row] : topics_) {
      if (!row.dirty) continue;
      auto& statement = row.created ? insert_topic_ : update_topic_;
      statement.reset();
      statement.bind(1, name);
      statement.bind(2, to_i64(row.last_offset));
      if (row.created) statement.bind(3, row.epoch);
      statement.exec();
    }
    for (auto& [name, row] : topics_) row.created = row.dirty = false;
  }

  // A failed transaction rolled back: the offsets it took were never stored, so the cache
  // goes back to what the database holds.
  void abandon_topics() {
    topics_.clear();
    try {
      load_topics();
    } catch (const SQLite::Exception& e) {
      logging::error({"store.reload_failed"},
                     "store: cannot reload topics after a failed commit: {}", e.what());
    }
  }

  // Embargoes: a timer for the earliest one still held.
  void schedule_embargo() {
    SQLite::Statement next(db_,
                           "SELECT min(held_until) FROM articles WHERE held_until IS NOT NULL");
    if (!next.executeStep() || next.getColumn(0).isNull()) return;
    embargo_timer_.expires_after(
        bounded_wait(next.getColumn(0).getInt64() - now_ns(), kMaxEmbargoWait));
    embargo_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) lift_embargoes();
    });
  }

  void lift_embargoes() {
    auto batch = std::make_shared<DeliveryBatch>();
    try {
      SQLite::Transaction transaction(db_);
      SQLite::Statement due(db_,
                            "SELECT seq, accepted_at, urgency, language, body, EXISTS("
                            "SELECT 1 FROM articles newer WHERE newer.article_id = "
                            "articles.article_id AND newer.version > articles.version) "
                            "FROM articles WHERE held_until IS NOT NULL AND held_until <= ? "
                            "ORDER BY held_until, seq");
      due.bind(1, now_ns());
      SQLite::Statement clear(db_, "UPDATE articles SET held_until = NULL WHERE seq = ?");
      while (due.executeStep()) {
        const auto seq = due.getColumn(0).getInt64();
        const auto body = due.getColumn(4).getString();
        v1::Article article;
        article.ParseFromString(body);
        // Held rows of a store written before superseding was kept: a newer version wins there too.
        if (due.getColumn(5).getInt() != 0) {
          logging::info({"store.embargo_superseded"},
                        "store: embargo of '{}' version {} ended: superseded by a newer version, "
                        "never released",
                        article.id(), article.version());
        } else {
          release(seq, article.topics(),
                  {body, due.getColumn(1).getInt64(), due.getColumn(2).getUInt(),
                   due.getColumn(3).getText()},
                  *batch, nullptr);
          logging::info({"store.embargo_lifted"}, "store: embargo lifted on '{}' version {}",
                        article.id(), article.version());
        }
        clear.reset();
        clear.bind(1, seq);
        clear.exec();
      }
      write_topics();
      transaction.commit();
      reset_statements();
    } catch (const SQLite::Exception& e) {
      reset_statements();
      logging::error({"store.embargo_lift_failed"},
                     "store: lifting embargoes failed (retrying in 1 s): {}", e.what());
      abandon_topics();
      embargo_timer_.expires_after(std::chrono::seconds(1));
      embargo_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) lift_embargoes();
      });
      return;
    }
    batch->stored_at = std::chrono::steady_clock::now();
    if (!batch->deliveries.empty()) sink_(std::move(batch));
    schedule_embargo();
  }

  // Retention: trims each topic by count and by age, a bounded chunk per transaction so that
  // publishes never wait long behind it.
  void schedule_sweep() {
    sweep_timer_.expires_after(options_.retention.sweep_interval);
    sweep_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      try {
        sweep();
      } catch (const SQLite::Exception& e) {
        logging::error({"store.retention_failed"}, "store: retention sweep failed: {}", e.what());
      }
      schedule_sweep();
    });
  }

  void sweep() {
    constexpr std::int64_t kChunk = 5000;
    const auto now = now_ns();
    SQLite::Statement trimmed(db_, "SELECT name, trimmed_through FROM topics");
    std::vector<std::pair<std::string, std::int64_t>> topics;
    while (trimmed.executeStep()) {
      topics.emplace_back(trimmed.getColumn(0).getString(), trimmed.getColumn(1).getInt64());
    }
    for (auto& [topic, through] : topics) {
      const auto cached = topics_.find(topic);
      if (cached == topics_.end()) continue;
      const auto& limits = options_.retention.for_topic(topic);
      // Saturated: "keep for ten million hours" keeps everything, it never wraps to "keep none".
      const auto cutoff =
          saturating_add(now, -saturating_multiply(limits.max_age.count(), 1'000'000'000));
      const auto last = to_i64(cached->second.last_offset);
      const auto by_count = last - to_i64(limits.max_count);
      for (;;) {
        // The newest offset this chunk may remove: by count, or the oldest rows past max age.
        std::int64_t bound = std::min(by_count, through + kChunk);
        SQLite::Statement old(db_,
                              "SELECT offset FROM deliveries WHERE topic = ? AND offset > ? "
                              "AND offset <= ? AND at < ? ORDER BY offset");
        old.bind(1, topic);
        old.bind(2, through);
        old.bind(3, through + kChunk);
        old.bind(4, cutoff);
        std::int64_t by_age = through;
        while (old.executeStep() && old.getColumn(0).getInt64() == by_age + 1) ++by_age;
        bound = std::max(bound, by_age);
        if (bound <= through) break;
        trim(topic, through, bound);
        through = bound;
      }
    }
  }

  void trim(const std::string& topic, std::int64_t from, std::int64_t through) {
    SQLite::Transaction transaction(db_);
    SQLite::Statement removed(db_,
                              "DELETE FROM deliveries WHERE topic = ? AND offset > ? "
                              "AND offset <= ? RETURNING seq");
    removed.bind(1, topic);
    removed.bind(2, from);
    removed.bind(3, through);
    std::vector<std::int64_t> seqs;
    while (removed.executeStep()) seqs.push_back(removed.getColumn(0).getInt64());
    SQLite::Statement orphan(db_,
                             "DELETE FROM articles WHERE seq = ? AND held_until IS NULL AND "
                             "NOT EXISTS (SELECT 1 FROM deliveries WHERE seq = articles.seq)");
    for (const auto seq : seqs) {
      orphan.reset();
      orphan.bind(1, seq);
      orphan.exec();
    }
    SQLite::Statement mark(db_, "UPDATE topics SET trimmed_through = ? WHERE name = ?");
    mark.bind(1, through);
    mark.bind(2, topic);
    mark.exec();
    transaction.commit();
    logging::debug({"store.retention_trimmed"}, "store: retention trimmed '{}' through offset {}",
                   topic, through);
  }

  // ------------------------------------------------------------------ reader thread

  ReadResult read_now(const ReadRequest& request) {
    ReadResult result;
    SQLite::Transaction snapshot(*reader_db_);  // one consistent view for the whole read
    const bool pattern = is_pattern(request.pattern);
    const bool with_json = demand_.json();  // the page carries JSON too
    SQLite::Statement topics(*reader_db_,
                             pattern ? "SELECT name, epoch, last_offset, trimmed_through FROM "
                                       "topics ORDER BY name"
                                     : "SELECT name, epoch, last_offset, trimmed_through FROM "
                                       "topics WHERE name = ?");
    if (!pattern) topics.bind(1, request.pattern);
    while (topics.executeStep()) {
      auto name = topics.getColumn(0).getString();
      if (pattern && !topic_matches(request.pattern, name)) continue;
      const auto last = to_u64(topics.getColumn(2).getInt64());
      const auto through = to_u64(topics.getColumn(3).getInt64());
      result.topics.push_back({.topic = std::move(name),
                               .epoch = topics.getColumn(1).getString(),
                               .first_offset = through < last ? through + 1 : 0,
                               .last_offset = last});
    }
    if (request.last_times) {
      SQLite::Statement last_at(*reader_db_,
                                "SELECT at FROM deliveries WHERE topic = ? AND offset = ?");
      for (auto& topic : result.topics) {
        if (topic.first_offset == 0) continue;  // nothing stored now
        last_at.reset();
        last_at.bind(1, topic.topic);
        last_at.bind(2, to_i64(topic.last_offset));
        if (last_at.executeStep()) topic.last_at_ns = last_at.getColumn(0).getInt64();
      }
    }

    const auto from_by_topic = positions_by_topic(request.from);
    std::vector<std::pair<const TopicState*, std::uint64_t>> plan;  // topic, read after
    for (const auto& topic : result.topics) {
      const auto from = from_by_topic.find(topic.topic);
      const auto position = from != from_by_topic.end() ? *from->second : v1::Position();
      if (request.check_from) {
        if (auto why = unrecoverable(topic, position)) {
          result.not_recoverable = std::move(why);
          return result;
        }
      }
      plan.emplace_back(&topic, position.offset());
    }
    if (request.check_from) {  // a listed topic this store does not have: its history is gone
      std::unordered_set<std::string_view> known_topics;
      for (const auto& topic : result.topics) known_topics.insert(topic.topic);
      for (const auto& from : request.from) {
        const bool known = known_topics.contains(from.topic());
        if (known || (from.position().offset() == 0 && from.position().epoch().empty())) continue;
        if (!topic_matches(request.pattern, from.topic())) continue;
        result.not_recoverable =
            unrecoverable(TopicState{from.topic(), {}, 0, 0, 0}, from.position());
        if (result.not_recoverable) return result;
      }
    }

    auto batch = std::make_shared<DeliveryBatch>();
    SQLite::Statement rows(*reader_db_,
                           "SELECT d.offset, a.accepted_at, a.urgency, a.language, a.body "
                           "FROM deliveries d JOIN articles a ON a.seq = d.seq "
                           "WHERE d.topic = ? AND d.offset > ? ORDER BY d.offset");
    for (const auto& [topic, after] : plan) {
      if (after >= topic->last_offset) continue;
      if (batch->bytes.size() >= request.max_bytes ||
          batch->deliveries.size() >= request.max_count) {
        result.complete = false;
        break;
      }
      rows.reset();
      rows.bind(1, topic->topic);
      rows.bind(2, to_i64(after));
      std::uint64_t offset = after;
      while (batch->bytes.size() < request.max_bytes &&
             batch->deliveries.size() < request.max_count && rows.executeStep()) {
        offset = to_u64(rows.getColumn(0).getInt64());
        const auto* body = static_cast<const char*>(rows.getColumn(4).getBlob());
        const auto size = static_cast<std::size_t>(rows.getColumn(4).getBytes());
        const StoredArticle stored{{body, size},
                                   rows.getColumn(1).getInt64(),
                                   rows.getColumn(2).getUInt(),
                                   rows.getColumn(3).getText()};
        const auto json = with_json ? article_json(stored.body) : std::string();
        append_stored(*batch, topic->topic, offset, topic->epoch, stored, 0,
                      json.empty() ? nullptr : &json);
      }
      if (offset < topic->last_offset) result.complete = false;
    }
    result.batch = std::move(batch);
    return result;
  }

  const StoreOptions options_;
  const BatchSink sink_;
  LatencyHistogram* const commit_latency_;
  const EncodingDemand& demand_;  // whether batches carry JSON too
  std::string path_;

  // Writer thread only.
  SQLite::Database db_;
  std::unordered_map<std::string, TopicRow> topics_;
  std::uint64_t next_sequence_ = 1;
  SQLite::Statement find_latest_{
      db_,
      "SELECT version, seq, held_until FROM articles WHERE article_id = ? "
      "ORDER BY version DESC LIMIT 1"};
  SQLite::Statement find_version_{
      db_, "SELECT seq, held_until FROM articles WHERE article_id = ? AND version = ?"};
  SQLite::Statement find_offsets_{db_,
                                  "SELECT topic, offset FROM deliveries WHERE seq = ? ORDER BY n"};
  SQLite::Statement find_body_{db_, "SELECT body FROM articles WHERE seq = ?"};
  SQLite::Statement supersede_held_{
      db_,
      "UPDATE articles SET held_until = NULL WHERE article_id = ?1 AND version < ?2 "
      "AND held_until IS NOT NULL RETURNING version"};
  SQLite::Statement insert_article_{
      db_,
      "INSERT INTO articles(article_id, version, accepted_at, urgency, language, "
      "held_until, body) VALUES(?, ?, ?, ?, ?, ?, ?)"};
  SQLite::Statement insert_delivery_{
      db_, "INSERT INTO deliveries(topic, offset, seq, n, at) VALUES(?, ?, ?, ?, ?)"};
  SQLite::Statement insert_topic_{db_,
                                  "INSERT INTO topics(name, last_offset, epoch) VALUES(?, ?, ?)"};
  SQLite::Statement update_topic_{db_, "UPDATE topics SET last_offset = ?2 WHERE name = ?1"};

  // Reader thread only.
  std::unique_ptr<SQLite::Database> reader_db_;

  PublishQueue queue_;

  WorkerThread writer_;
  WorkerThread reader_;
  net::steady_timer embargo_timer_{writer_.ioc};
  net::steady_timer sweep_timer_{writer_.ioc};
};

SqliteEngine::SqliteEngine(StoreOptions options, BatchSink sink, LatencyHistogram* commit_latency)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(sink), commit_latency, demand())) {
}

SqliteEngine::~SqliteEngine() = default;

std::string SqliteEngine::backup(const std::filesystem::path& data_dir,
                                 const std::filesystem::path& to) {
  namespace fs = std::filesystem;
  const auto from = (data_dir / "kabar.db").string();
  std::error_code ec;
  if (!fs::is_regular_file(from, ec)) throw StoreError("no store to back up: " + from);
  if (fs::exists(to, ec)) throw StoreError(to.string() + " exists already: not overwritten");
  const auto partial = to.string() + ".partial";
  fs::remove(partial, ec);
  try {
    // Read in one transaction of SQLite's backup API: a consistent copy while a broker writes
    // (WAL mode), without stopping it.
    SQLite::Database source(from, SQLite::OPEN_READWRITE, 5000);
    std::size_t articles = 0, topics = 0;
    {
      SQLite::Database copy(partial, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      SQLite::Backup(copy, source).executeStep(-1);
      // One self-contained file, marked as a backup for the broker that opens it.
      copy.exec("PRAGMA journal_mode=DELETE");
      SQLite::Statement mark(copy, "INSERT OR REPLACE INTO meta VALUES('backup_taken_at', ?)");
      mark.bind(1, current_nanoseconds());
      mark.exec();
      articles =
          static_cast<std::size_t>(copy.execAndGet("SELECT count(*) FROM articles").getInt64());
      topics = static_cast<std::size_t>(copy.execAndGet("SELECT count(*) FROM topics").getInt64());
    }
    // On disk before it has its name: a backup that exists is a whole one.
    if (const int fd = ::open(partial.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
    fs::rename(partial, to);
    return std::to_string(articles) + " article versions in " + std::to_string(topics) + " topics";
  } catch (const SQLite::Exception& e) {
    fs::remove(partial, ec);
    throw StoreError("cannot back up " + from + " to " + to.string() + ": " + one_line(e.what()));
  } catch (const fs::filesystem_error& e) {
    fs::remove(partial, ec);
    throw StoreError("cannot back up " + from + " to " + to.string() + ": " + e.what());
  }
}

void SqliteEngine::publish(std::vector<PublishRequest> requests) {
  impl_->publish(std::move(requests));
}

void SqliteEngine::flush(std::function<void()> done) {
  impl_->flush(std::move(done));
}

void SqliteEngine::read(ReadRequest request, ReadCallback done) {
  impl_->read(std::move(request), std::move(done));
}

}  // namespace kabar::broker
