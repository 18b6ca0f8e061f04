#include "kabar/broker/nats_engine.hpp"

#include <fmt/format.h>
#include <google/protobuf/util/time_util.h>
#include <nats/nats.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>

#include "base/log.hpp"
#include "kabar/broker/sqlite_engine.hpp"  // StoreError
#include "kabar/common/time.hpp"
#include "kabar/common/topic.hpp"
#include "store/log_index.hpp"
#include "store/worker_thread.hpp"

namespace kabar::broker {

namespace net = boost::asio;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

// How often the engine looks at the stream (deleted? recreated? how far is the log?) and retries
// what is waiting; how long one write waits for its acknowledgement.
constexpr milliseconds kWatchInterval{1000};
constexpr milliseconds kRetryInterval{100};
constexpr milliseconds kWriteWait{2000};
// A history page reads at most this many deliveries' entries from the stream at once.
constexpr std::size_t kMaxReadDeliveries = 10'000;
// A history read that cannot reach the stream's leader for this long is answered with why.
constexpr milliseconds kReadDeadline{10'000};
// Entries the follower may have handed to the writer thread before it waits.
constexpr std::size_t kMaxUnappliedBytes = std::size_t{32} << 20;
constexpr const char* kEpochPrefix = "kabar epoch ";

std::string last_error(natsStatus status) {
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (text != nullptr && *text != '\0') return text;
  return natsStatus_GetText(status);
}

// libnats objects owned by a unique_ptr that calls their Destroy function.
template <class T, void (*Destroy)(T*)>
using Owned = std::unique_ptr<T, std::integral_constant<decltype(Destroy), Destroy>>;
using Options = Owned<natsOptions, natsOptions_Destroy>;
using StreamInfo = Owned<jsStreamInfo, jsStreamInfo_Destroy>;
using Msg = Owned<natsMsg, natsMsg_Destroy>;
using PubAck = Owned<jsPubAck, jsPubAck_Destroy>;
using Meta = Owned<jsMsgMetaData, jsMsgMetaData_Destroy>;
using Subscription = Owned<natsSubscription, natsSubscription_Destroy>;

// The stream's identity: a new one means a new history.
struct StreamIdentity {
  std::string id;  // the random id in its description
  std::int64_t created_ns = 0;

  bool operator==(const StreamIdentity&) const = default;
  [[nodiscard]] std::string epoch() const { return "nats-" + id; }
};

// The sequence a "wrong last sequence: N" conflict names, or 0.
std::uint64_t conflict_last_seq(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return 0;
  auto begin = text.data() + colon + 1;
  while (begin < text.data() + text.size() && *begin == ' ') ++begin;
  std::uint64_t seq = 0;
  std::from_chars(begin, text.data() + text.size(), seq);
  return seq;
}

// `urls` for a log line: a password or token in a URL (nats://user:password@host) is not.
std::string redacted(const std::vector<std::string>& urls) {
  std::string shown;
  for (const auto& url : urls) {
    if (!shown.empty()) shown += ',';
    const auto scheme = url.find("://");
    const auto at = url.find('@');
    if (scheme == std::string::npos || at == std::string::npos || at < scheme) {
      shown += url;
      continue;
    }
    const auto user = url.substr(scheme + 3, at - scheme - 3);
    const auto colon = user.find(':');
    shown += url.substr(0, scheme + 3) +
             (colon == std::string::npos ? "***" : user.substr(0, colon) + ":***") + url.substr(at);
  }
  return shown;
}

// The stream keeps what the longest retention asks for, and the engine trims each topic to its
// own limits; "forever" is no MaxAge.
std::int64_t stream_max_age_ns(const Retention& retention) {
  auto longest = retention.defaults.max_age;
  for (const auto& rule : retention.rules) longest = std::max(longest, rule.limits.max_age);
  const auto seconds = longest.count();
  constexpr std::int64_t kHundredYears = std::int64_t{100} * 365 * 24 * 3600;
  if (seconds >= kHundredYears) return 0;
  return saturating_multiply(seconds, 1'000'000'000);
}

using EntryPtr = std::shared_ptr<const log::v1::Entry>;
using Entries = std::map<std::uint64_t, EntryPtr>;

// The entries the follower applied last, encoded as the stream holds them, for history reads
// without a round trip to the stream: most readers resume what they missed in the last minutes.
// Bounded in bytes, the oldest dropped first.
// @note Thread-safe: the writer adds, the reader looks up.
class EntryCache {
 public:
  using Encoded = std::shared_ptr<const std::string>;

  explicit EntryCache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  void add(std::uint64_t seq, std::string encoded) {
    const auto bytes = encoded.size() + kOverhead;
    if (bytes > max_bytes_) return;
    auto entry = std::make_shared<const std::string>(std::move(encoded));
    std::lock_guard lock(mutex_);
    bytes_ += bytes;
    entries_.emplace(seq, std::move(entry));
    while (bytes_ > max_bytes_ && !entries_.empty()) {
      bytes_ -= entries_.begin()->second->size() + kOverhead;
      entries_.erase(entries_.begin());
    }
  }

  // Those of `seqs` it holds, parsed into `found` (outside the lock).
  void find(const std::set<std::uint64_t>& seqs, Entries& found) const {
    std::vector<std::pair<std::uint64_t, Encoded>> held;
    {
      std::lock_guard lock(mutex_);
      if (entries_.empty()) return;
      for (auto seq = seqs.lower_bound(entries_.begin()->first); seq != seqs.end(); ++seq) {
        const auto it = entries_.find(*seq);
        if (it != entries_.end()) held.emplace_back(*seq, it->second);
      }
    }
    for (const auto& [seq, encoded] : held) {
      auto entry = std::make_shared<log::v1::Entry>();
      if (entry->ParseFromString(*encoded)) found.emplace(seq, std::move(entry));
    }
  }

  void clear() {
    std::lock_guard lock(mutex_);
    entries_.clear();
    bytes_ = 0;
  }

 private:
  static constexpr std::size_t kOverhead = 96;  // a map node, a shared string: what it costs too
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, Encoded> entries_;  // guarded by mutex_
  std::size_t bytes_ = 0;                     // guarded by mutex_
};

// One group of publishes being written: retried (decided again each time) until the stream
// takes an entry of it, or its time is up.
struct Group {
  std::vector<PublishRequest> requests;
  std::vector<bool> answered;
  // Each attempt's write id, and which request each of its entry's articles is.
  std::map<std::string, std::vector<std::optional<std::size_t>>> attempts;
  std::vector<std::optional<std::size_t>> same_as;
  // The outcomes of the requests others are the same as, once answered: theirs too.
  std::map<std::size_t, PublishOutcome> firsts;
  steady_clock::time_point started;
  steady_clock::time_point deadline;
  std::uint64_t wait_for_seq = 0;  // a conflict: retry once applied up to here
  bool retry_scheduled = false;
};

}  // namespace

class NatsEngine::Impl {
 public:
  Impl(NatsOptions nats, StoreOptions store, BatchSink sink, const EncodingDemand& demand,
       LatencyHistogram& commit_latency, LogMetrics& metrics)
      : nats_(std::move(nats)),
        store_(std::move(store)),
        sink_(std::move(sink)),
        demand_(demand),
        commit_latency_(commit_latency),
        metrics_(metrics),
        subject_("kabar." + nats_.stream + ".log"),
        instance_(random_epoch()) {
    connect();
    writer_.start();
    reader_.start();
    net::post(writer_.ioc, [this] {
      watch();
      schedule_sweep();
    });
  }

  // The server drained what it could within its grace period before this: what is still
  // pending is answered UNAVAILABLE now rather than waited for, and the connection is closed
  // first, which ends at once any NATS call the writer or reader is in (with NATS unreachable
  // each would wait out its time-out: an SRE's stop must not hang on it).
  ~Impl() {
    stopping_flag_ = true;
    if (connection_ != nullptr) natsConnection_Close(connection_);
    std::promise<void> stopped;
    net::post(writer_.ioc, [this, &stopped] {
      stopping_ = true;
      watch_timer_.cancel();
      retry_timer_.cancel();
      embargo_timer_.cancel();
      stop_follower();
      abandon("the broker is shutting down: not stored (publish it again)");
      stopped.set_value();
    });
    stopped.get_future().wait();
    // A message callback of the follower's may still be running: it posts to the writer.
    const auto deadline = steady_clock::now() + std::chrono::seconds(1);
    for (auto& completed : follower_completions_) completed.wait_until(deadline);
    reader_.stop();
    writer_.stop();
    if (connection_ != nullptr) {
      jsCtx_Destroy(js_);
      natsConnection_Destroy(connection_);
    }
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void publish(std::vector<PublishRequest> requests) {
    if (queue_.push(std::move(requests))) net::post(writer_.ioc, [this] { pump(); });
  }

  void flush(std::function<void()> done) {
    net::post(writer_.ioc, [this, done = std::move(done)]() mutable {
      flush_waiters_.push_back(std::move(done));
      pump();
      settle_flushes();
    });
  }

  void read(ReadRequest request, ReadCallback done) {
    net::post(writer_.ioc, [this, request = std::move(request), done = std::move(done)]() mutable {
      waiting_reads_.push_back(
          {std::move(request), std::move(done), steady_clock::now() + nats_.publish_timeout});
      serve_reads();
    });
  }

 private:
  // ------------------------------------------------------------------ connection

  void connect() {
    natsOptions* raw = nullptr;
    if (natsOptions_Create(&raw) != NATS_OK) throw StoreError("cannot create NATS options");
    Options options(raw);
    std::vector<const char*> servers;
    servers.reserve(nats_.urls.size());
    for (const auto& url : nats_.urls) servers.push_back(url.c_str());
    auto check = [](natsStatus status, const std::string& what) {
      if (status != NATS_OK) throw StoreError(what + ": " + last_error(status));
    };
    check(natsOptions_SetServers(options.get(), servers.data(), static_cast<int>(servers.size())),
          "--nats-url");
    check(natsOptions_SetMaxReconnect(options.get(), -1), "NATS options");
    check(natsOptions_SetReconnectWait(options.get(), 250), "NATS options");
    check(natsOptions_SetTimeout(options.get(), 2000), "NATS options");
    // A request made while disconnected fails at once instead of waiting out its time-out.
    check(natsOptions_SetFailRequestsOnDisconnect(options.get(), true), "NATS options");
    check(natsOptions_SetRetryOnFailedConnect(options.get(), true, &Impl::on_reconnected, this),
          "NATS options");
    check(natsOptions_SetDisconnectedCB(options.get(), &Impl::on_disconnected, this),
          "NATS options");
    check(natsOptions_SetReconnectedCB(options.get(), &Impl::on_reconnected, this), "NATS options");
    if (!nats_.credentials_file.empty()) {
      check(natsOptions_SetUserCredentialsFromFiles(options.get(), nats_.credentials_file.c_str(),
                                                    nullptr),
            "--nats-creds " + nats_.credentials_file);
    }
    if (!nats_.ca_file.empty()) {
      check(natsOptions_SetSecure(options.get(), true), "--nats-ca");
      check(natsOptions_LoadCATrustedCertificates(options.get(), nats_.ca_file.c_str()),
            "--nats-ca " + nats_.ca_file);
    }
    if (!nats_.certificate_file.empty()) {
      check(natsOptions_LoadCertificatesChain(options.get(), nats_.certificate_file.c_str(),
                                              nats_.key_file.c_str()),
            "--nats-cert " + nats_.certificate_file);
    }
    const auto status = natsConnection_Connect(&connection_, options.get());
    if (status == NATS_OK) {
      char url[256] = {};
      natsConnection_GetConnectedUrl(connection_, url, sizeof url);
      logging::info({"nats.connected"}, "store: connected to NATS at {}", redacted({url}));
    } else if (status == NATS_NOT_YET_CONNECTED) {
      logging::warn({"nats.unreachable"},
                    "store: NATS ({}) is not reachable yet: retrying in the background",
                    redacted(nats_.urls));
    } else {
      check(status, "cannot connect to NATS (" + redacted(nats_.urls) + ")");
    }
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = kWriteWait.count();
    check(natsConnection_JetStream(&js_, connection_, &js_options), "NATS JetStream");
  }

  static void on_disconnected(natsConnection* /*connection*/, void* self) {
    static_cast<Impl*>(self)->connected_.store(false);
    logging::warn({"nats.disconnected"}, "store: disconnected from NATS; reconnecting");
  }
  static void on_reconnected(natsConnection* connection, void* self) {
    static_cast<Impl*>(self)->connected_.store(true);
    char url[256] = {};
    natsConnection_GetConnectedUrl(connection, url, sizeof url);
    logging::info({"nats.reconnected"}, "store: reconnected to NATS at {}", redacted({url}));
  }

  // ------------------------------------------------------------------ the stream (writer thread)

  // Every kWatchInterval: attach to the stream (creating it), notice it deleted or recreated,
  // and learn how far the log goes (whether this broker has caught up).
  void watch() {
    if (stopping_) return;
    check_stream();
    watch_timer_.expires_after(kWatchInterval);
    watch_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) watch();
    });
  }

  void check_stream() {
    jsErrCode code{};
    jsStreamInfo* raw = nullptr;
    auto status = js_GetStreamInfo(&raw, js_, nats_.stream.c_str(), nullptr, &code);
    StreamInfo info(raw);
    if (status != NATS_OK && code == JSStreamNotFoundErr) {
      if (attached_) {
        logging::error({"nats.stream_gone"},
                       "store: NATS stream {} is gone (deleted?): creating it again, a new epoch",
                       nats_.stream);
      }
      info = create_stream();
      if (!info) return;
    } else if (status != NATS_OK) {
      if (attached_ || !reported_unreachable_) {
        logging::warn({"nats.stream_unreadable"}, "store: cannot read NATS stream {}: {}",
                      nats_.stream, last_error(status));
        reported_unreachable_ = true;
      }
      return;
    }
    reported_unreachable_ = false;
    connected_.store(true);
    const auto* description = info->Config->Description;
    std::string_view text = description != nullptr ? description : "";
    if (!text.starts_with(kEpochPrefix)) {
      logging::error(
          {"nats.stream_foreign"},
          "store: NATS stream {} was not made by kabar (its description is '{}'): not using it",
          nats_.stream, text.substr(0, 80));
      return;
    }
    const StreamIdentity identity{std::string(text.substr(std::string_view(kEpochPrefix).size())),
                                  info->Created};
    const auto last_seq = info->State.LastSeq;
    if (attached_ && identity != identity_) {
      logging::error({"nats.stream_recreated"},
                     "store: NATS stream {} was created again: its history is new (epoch {})",
                     nats_.stream, identity.epoch());
      detach();
    } else if (attached_ && last_seq < index_.applied_seq()) {
      logging::error(
          {"nats.history_lost"},
          "store: NATS stream {} ends at sequence {}, before {} already applied here: its "
          "history was lost; following it again from its start",
          nats_.stream, last_seq, index_.applied_seq());
      detach();
    }
    if (!attached_) {
      attach(identity, info->State.FirstSeq);
      // Made by another broker, or before this one's retention changed.
      const auto wanted = stream_max_age_ns(store_.retention);
      if (info->Config->MaxAge != 0 && (wanted == 0 || info->Config->MaxAge < wanted)) {
        logging::warn(
            {"nats.max_age_short"},
            "store: NATS stream {} keeps entries {} h, less than the {} this broker's retention "
            "asks for: history ends there (the stream's MaxAge is set when it is created)",
            nats_.stream, info->Config->MaxAge / kNanosecondsPerHour,
            wanted == 0 ? std::string("forever")
                        : fmt::format("{} h", wanted / kNanosecondsPerHour));
      }
    }
    stream_max_age_ns_ = info->Config->MaxAge;
    target_seq_ = std::max(target_seq_, last_seq);
    metrics_.stream_seq.store(last_seq, std::memory_order_relaxed);
    after_progress();
  }

  StreamInfo create_stream() {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    const auto description = std::string(kEpochPrefix) + random_epoch();
    const char* subjects[] = {subject_.c_str()};
    config.Name = nats_.stream.c_str();
    config.Description = description.c_str();
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Replicas = nats_.replicas;
    config.MaxAge = stream_max_age_ns(store_.retention);
    config.AllowDirect = true;
    jsErrCode code{};
    jsStreamInfo* raw = nullptr;
    auto status = js_AddStream(&raw, js_, &config, nullptr, &code);
    if (status == NATS_OK) {
      logging::info({"nats.stream_created"},
                    "store: created NATS stream {} (subject {}, {} replicas)", nats_.stream,
                    subject_, nats_.replicas);
      return StreamInfo(raw);
    }
    if (code == JSStreamNameExistErr) {  // another broker created it first: use theirs
      status = js_GetStreamInfo(&raw, js_, nats_.stream.c_str(), nullptr, &code);
      if (status == NATS_OK) return StreamInfo(raw);
    }
    logging::error({"nats.stream_create_failed"},
                   "store: cannot create NATS stream {} ({} replicas): {}", nats_.stream,
                   nats_.replicas, last_error(status));
    return nullptr;
  }

  void attach(const StreamIdentity& identity, std::uint64_t first_seq) {
    identity_ = identity;
    epoch_ = identity.epoch();
    index_ = LogIndex{};
    target_seq_ = 0;
    ++generation_;
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = nats_.stream.c_str();
    options.Ordered = true;
    options.Config.DeliverPolicy = js_DeliverByStartSequence;
    options.Config.OptStartSeq = std::max<std::uint64_t>(first_seq, 1);
    options.Config.Heartbeat = std::chrono::nanoseconds(std::chrono::seconds(1)).count();
    jsErrCode code{};
    natsSubscription* raw = nullptr;
    // Owned here until the engine goes, never freed earlier: a subscription that failed to start
    // (a consumer not created in time) may still have a callback under way.
    auto* follower = followers_.emplace_back(new Follower{this, generation_, {}}).get();
    auto completed = follower->completed.get_future();
    const auto status = js_Subscribe(&raw, js_, subject_.c_str(), &Impl::on_entry_message, follower,
                                     nullptr, &options, &code);
    if (status != NATS_OK) {
      logging::warn({"nats.follow_failed"}, "store: cannot follow NATS stream {}: {}", nats_.stream,
                    last_error(status));
      return;
    }
    follower_.reset(raw);
    follower_completions_.push_back(std::move(completed));
    natsSubscription_SetPendingLimits(raw, -1, 256 << 20);
    natsSubscription_SetOnCompleteCB(raw, &Impl::on_follower_complete, follower);
    attached_ = true;
    logging::info({"nats.following"}, "store: following NATS stream {} from sequence {} (epoch {})",
                  nats_.stream, options.Config.OptStartSeq, epoch_);
  }

  void detach() {
    stop_follower();
    cache_.clear();
    attached_ = false;
    ready_ = false;
    if (inflight_) {  // what it waited for belonged to the stream left
      inflight_->wait_for_seq = 0;
      schedule_retry();
    }
  }

  void stop_follower() {
    if (!follower_) return;
    // The closure is freed once libnats says no callback is running or will run.
    natsSubscription_Unsubscribe(follower_.get());
    follower_.reset();
  }

  // ------------------------------------------------------------------ following (writer thread)

  struct Follower {
    Impl* impl;
    std::uint64_t generation;
    std::promise<void> completed;  // no callback of this follower's runs any more
  };

  static void on_follower_complete(void* closure) {
    static_cast<Follower*>(closure)->completed.set_value();
  }

  // On libnats's thread: hand the entry to the writer thread, in order.
  static void on_entry_message(natsConnection* /*connection*/, natsSubscription* /*sub*/,
                               natsMsg* raw, void* closure) {
    Msg msg(raw);
    const auto* follower = static_cast<Follower*>(closure);
    jsMsgMetaData* meta_raw = nullptr;
    if (natsMsg_GetMetaData(&meta_raw, msg.get()) != NATS_OK) return;
    const Meta meta(meta_raw);
    std::string data(natsMsg_GetData(msg.get()),
                     static_cast<std::size_t>(natsMsg_GetDataLength(msg.get())));
    auto* impl = follower->impl;
    // Back-pressure: while the writer has this much to apply, the follower waits (and NATS
    // holds the rest), rather than a replay of the whole log piling up in memory.
    while (impl->unapplied_bytes_.load() > kMaxUnappliedBytes && !impl->stopping_flag_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    impl->unapplied_bytes_ += data.size();
    net::post(impl->writer_.ioc,
              [impl, generation = follower->generation, seq = meta->Sequence.Stream,
               at = meta->Timestamp, data = std::move(data)]() mutable {
                impl->unapplied_bytes_ -= data.size();
                if (generation != impl->generation_) return;  // from a stream since left
                log::v1::Entry entry;
                if (!entry.ParseFromString(data)) {
                  logging::error({"nats.entry_unparsable"},
                                 "store: NATS stream entry {} does not parse: skipped", seq);
                  entry.Clear();
                }
                impl->apply(seq, at, entry, std::move(data));
                impl->after_progress();
              });
  }

  // Applies one entry: its deliveries to the sink, its publishers (when they are waiting here)
  // acknowledged first.
  void apply(std::uint64_t seq, std::int64_t at_ns, const log::v1::Entry& entry,
             std::string encoded) {
    auto batch = std::make_shared<DeliveryBatch>();
    std::vector<v1::PublishResult> results;
    const bool ours = inflight_ && inflight_->attempts.contains(entry.write_id());
    if (!index_.apply(seq, at_ns, entry, epoch_, demand_.json(), *batch,
                      ours ? &results : nullptr)) {
      return;
    }
    cache_.add(seq, std::move(encoded));
    metrics_.applied_seq.store(seq, std::memory_order_relaxed);
    if (ours) complete(entry.write_id(), results);
    batch->stored_at = steady_clock::now();
    if (!batch->deliveries.empty()) sink_(std::move(batch));
  }

  void after_progress() {
    if (attached_ && !ready_ && index_.applied_seq() >= target_seq_) {
      ready_ = true;
      logging::info({"nats.caught_up"},
                    "store: caught up with NATS stream {} at sequence {} ({} topics)", nats_.stream,
                    index_.applied_seq(), index_.topic_count());
    }
    serve_reads();
    if (inflight_ && inflight_->wait_for_seq != 0 &&
        index_.applied_seq() >= inflight_->wait_for_seq) {
      inflight_->wait_for_seq = 0;
      ++retry_token_;  // a retry scheduled meanwhile is this one
      attempt();
    }
    pump();
  }

  // ------------------------------------------------------------------ publishing (writer thread)

  void pump() {
    if (inflight_ || stopping_) return;
    if (!ready_) {
      // Publishes wait while the log is caught up, or NATS comes back; not forever.
      expire_queue();
      settle_flushes();
      return;
    }
    queued_since_.reset();
    auto requests = queue_.take();
    // With no publish, a group of none still writes the releases of embargoes that lifted.
    const auto release = index_.next_release_ns();
    if (requests.empty() && (!release || *release > current_nanoseconds())) {
      settle_flushes();
      return schedule_embargo();
    }
    auto& group = inflight_.emplace();
    group.answered.assign(requests.size(), false);
    group.same_as.resize(requests.size());
    group.requests = std::move(requests);
    group.started = steady_clock::now();
    group.deadline = group.started + nats_.publish_timeout;
    attempt();
  }

  // Decides the group's unanswered publishes on the index as it is and writes them as one entry.
  void attempt() {
    auto& group = *inflight_;
    group.retry_scheduled = false;
    std::vector<std::size_t> pending;
    std::vector<PublishRequest> views;
    for (std::size_t i = 0; i < group.requests.size(); ++i) {
      if (!group.answered[i]) pending.push_back(i);
    }
    // plan() takes the requests themselves; they are moved in and back, not copied.
    views.reserve(pending.size());
    for (const auto i : pending) views.push_back(std::move(group.requests[i]));
    auto plan = index_.plan(views, epoch_, current_nanoseconds(), stream_max_age_ns_);
    for (std::size_t k = 0; k < pending.size(); ++k)
      group.requests[pending[k]] = std::move(views[k]);

    // The request each of entry.stored answers (none for a release).
    std::vector<std::optional<std::size_t>> slots(
        static_cast<std::size_t>(plan.entry.stored_size()));
    for (std::size_t k = 0; k < pending.size(); ++k) {
      const auto i = pending[k];
      if (plan.answered[k]) {
        answer(i, std::move(*plan.answered[k]));
      } else if (plan.same_as[k]) {
        group.same_as[i] = pending[*plan.same_as[k]];
        group.firsts.try_emplace(*group.same_as[i]);
      } else {
        slots[plan.slot[k]] = i;
      }
    }
    if (plan.entry.stored_size() == 0) return finish_group();
    if (!attached_ || !connected_.load()) return retry_later("NATS is not reachable");

    const auto write_id = fmt::format("{}-{}", instance_, ++writes_);
    plan.entry.set_write_id(write_id);
    group.attempts.emplace(write_id, std::move(slots));
    auto bytes = plan.entry.SerializeAsString();
    natsMsg* raw = nullptr;
    if (natsMsg_Create(&raw, subject_.c_str(), nullptr, bytes.data(),
                       static_cast<int>(bytes.size())) != NATS_OK) {
      return retry_later("cannot create a NATS message");
    }
    Msg msg(raw);
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MaxWait = kWriteWait.count();
    const auto expected = index_.applied_seq();
    // 0 means "unset" in jsPubOptions: "the stream is empty" is said with the header itself.
    if (expected == 0) {
      natsMsgHeader_Set(msg.get(), "Nats-Expected-Last-Sequence", "0");
    } else {
      options.ExpectLastSeq = expected;
    }
    jsPubAck* ack_raw = nullptr;
    jsErrCode code{};
    const auto status = js_PublishMsg(&ack_raw, js_, msg.get(), &options, &code);
    const PubAck ack(ack_raw);
    if (status == NATS_OK) {
      // The stream took it right after what this broker had applied: apply it now (the
      // follower skips it when it arrives).
      if (ack->Sequence == expected + 1) {
        apply(ack->Sequence, current_nanoseconds(), plan.entry, std::move(bytes));
      } else {
        inflight_->wait_for_seq = ack->Sequence;
      }
      return;
    }
    const auto text = last_error(status);
    if (code == JSStreamWrongLastSequenceErr) {
      // Another broker wrote first: catch up to where the stream is, decide again.
      const auto last = conflict_last_seq(text);
      metrics_.conflicts.fetch_add(1, std::memory_order_relaxed);
      group.wait_for_seq = std::max<std::uint64_t>(last, expected + 1);
      target_seq_ = std::max(target_seq_, group.wait_for_seq);
      schedule_retry();  // in case the follower is slow to bring it
      return;
    }
    // Not written, or not known to be (a lost acknowledgement): the retry meets a conflict if it
    // was, and the follower then brings the entry, which answers the group.
    retry_later(text);
  }

  // A timer for the earliest embargo still held: when it lifts, pump() writes its release (the
  // first broker to write it wins; the others find it released when they catch up).
  void schedule_embargo() {
    const auto release = index_.next_release_ns();
    if (!release || embargo_at_ == release) return;
    embargo_at_ = release;
    constexpr std::chrono::seconds kMaxEmbargoWait{60};  // a clock change is a re-check away
    embargo_timer_.expires_after(bounded_wait(*release - current_nanoseconds(), kMaxEmbargoWait));
    embargo_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      embargo_at_.reset();
      pump();
    });
  }

  void retry_later(const std::string& why) {
    auto& group = *inflight_;
    if (steady_clock::now() >= group.deadline) {
      logging::warn({"nats.publishes_unanswered"},
                    "store: {} publishes not stored within {} ms: {}", unanswered(),
                    nats_.publish_timeout.count(), why);
      for (std::size_t i = 0; i < group.requests.size(); ++i) {
        if (!group.answered[i] && !group.same_as[i]) {
          answer(i, unavailable("the shared log (NATS) did not store it within " +
                                std::to_string(nats_.publish_timeout.count()) + " ms: " + why));
        }
      }
      return finish_group();
    }
    schedule_retry();
  }

  void schedule_retry() {
    if (inflight_->retry_scheduled) return;
    inflight_->retry_scheduled = true;
    retry_timer_.expires_after(kRetryInterval);
    retry_timer_.async_wait([this, token = ++retry_token_](boost::system::error_code ec) {
      if (ec || !inflight_ || token != retry_token_) return;
      inflight_->retry_scheduled = false;
      if (inflight_->wait_for_seq != 0) {
        // The follower has not brought the entries the conflict named yet: look again.
        if (steady_clock::now() >= inflight_->deadline) return retry_later("still catching up");
        check_stream();
        if (inflight_ && inflight_->wait_for_seq != 0) schedule_retry();
        return;
      }
      attempt();
    });
  }

  // An entry of this group's is applied: each of its articles answers its publisher.
  void complete(const std::string& write_id, std::vector<v1::PublishResult>& results) {
    auto& group = *inflight_;
    commit_latency_.record(steady_clock::now() - group.started);
    const auto& slots = group.attempts.at(write_id);
    for (std::size_t slot = 0; slot < slots.size() && slot < results.size(); ++slot) {
      if (!slots[slot]) continue;
      PublishOutcome outcome;
      outcome.result = results[slot];
      answer(*slots[slot], std::move(outcome));
    }
    finish_group();
  }

  void finish_group() {
    auto& group = *inflight_;
    // Published twice in one group: the second is a duplicate of the first, as stored.
    for (std::size_t i = 0; i < group.requests.size(); ++i) {
      if (!group.same_as[i] || group.answered[i]) continue;
      const auto first = *group.same_as[i];
      auto outcome = group.firsts.at(first);
      outcome.result.set_duplicate(!outcome.rejection.has_value());
      answer(i, std::move(outcome));
    }
    inflight_.reset();
    ++retry_token_;                              // a retry scheduled for it is void
    net::post(writer_.ioc, [this] { pump(); });  // the next group, or an embargo to watch
    settle_flushes();
  }

  // Every publish, flush and read still waiting, answered: the engine is going.
  void abandon(const std::string& why) {
    if (inflight_) {
      for (std::size_t i = 0; i < inflight_->requests.size(); ++i) {
        if (!inflight_->answered[i]) answer(i, unavailable(why));
      }
      inflight_.reset();
    }
    refuse(queue_.take(), why);
    for (auto& read : waiting_reads_) {
      ReadResult result;
      result.not_recoverable = why;
      read.done(std::move(result));
    }
    waiting_reads_.clear();
    settle_flushes();
  }

  void answer(std::size_t i, PublishOutcome outcome) {
    auto& group = *inflight_;
    group.answered[i] = true;
    if (outcome.rejection && outcome.rejection->code == v1::Error::UNAVAILABLE) {
      metrics_.unavailable.fetch_add(1, std::memory_order_relaxed);
    }
    if (const auto first = group.firsts.find(i); first != group.firsts.end()) {
      first->second = outcome;
    }
    group.requests[i].done(std::move(outcome));
  }

  static PublishOutcome unavailable(std::string why) {
    PublishOutcome outcome;
    outcome.rejection = Rejection{v1::Error::UNAVAILABLE, std::move(why)};
    return outcome;
  }

  std::size_t unanswered() const {
    return static_cast<std::size_t>(
        std::count(inflight_->answered.begin(), inflight_->answered.end(), false));
  }

  // Publishes waiting for the log to be reachable: answered UNAVAILABLE once their time is up.
  void expire_queue() {
    auto requests = queue_.take();
    if (requests.empty()) return;
    const auto now = steady_clock::now();
    if (!queued_since_) queued_since_ = now;
    if (now - *queued_since_ < nats_.publish_timeout) {
      (void)queue_.push(std::move(requests));
      schedule_queue_check();
      return;
    }
    refuse(requests, "the shared log (NATS) is not reachable: nothing was stored");
    queued_since_.reset();
  }

  // Publishes never planned, answered UNAVAILABLE (and counted) with `why`.
  void refuse(const std::vector<PublishRequest>& requests, const std::string& why) {
    metrics_.unavailable.fetch_add(requests.size(), std::memory_order_relaxed);
    for (auto& request : requests) request.done(unavailable(why));
  }

  void schedule_queue_check() {
    if (queue_check_scheduled_) return;
    queue_check_scheduled_ = true;
    queue_timer_.expires_after(kRetryInterval);
    queue_timer_.async_wait([this](boost::system::error_code ec) {
      queue_check_scheduled_ = false;
      if (!ec) pump();
    });
  }

  void settle_flushes() {
    if (inflight_ || flush_waiters_.empty()) return;
    auto requests = queue_.take();
    if (!requests.empty()) {
      (void)queue_.push(std::move(requests));
      if (ready_) return;  // pump() takes them next
      // Not attached: they are answered when their time is up; the flush waits for that.
      return schedule_queue_check();
    }
    for (auto& done : std::exchange(flush_waiters_, {})) done();
  }

  // ------------------------------------------------------------------ reads

  struct PendingRead {
    ReadRequest request;
    ReadCallback done;
    steady_clock::time_point deadline;
  };

  // Reads wait while the log is caught up, up to publish_timeout; then they are told why not.
  void serve_reads() {
    if (waiting_reads_.empty()) return;
    const auto now = steady_clock::now();
    std::vector<PendingRead> still;
    for (auto& read : waiting_reads_) {
      if (ready_) {
        start_read(std::move(read));
      } else if (now >= read.deadline) {
        ReadResult result;
        result.not_recoverable =
            "the shared log (NATS) is not reachable: history cannot be read now";
        read.done(std::move(result));
      } else {
        still.push_back(std::move(read));
      }
    }
    waiting_reads_ = std::move(still);
    if (!waiting_reads_.empty()) schedule_queue_check();
  }

  // On the writer thread: the topics as of now and where each wanted offset is; the entries are
  // fetched on the reader thread.
  void start_read(PendingRead read) {
    const auto& request = read.request;
    ReadResult result;
    result.topics = index_.topics(request.pattern, request.last_times, epoch_);
    const auto from_by_topic = positions_by_topic(request.from);
    struct Wanted {
      const TopicState* topic;
      std::uint64_t after;
      std::vector<LogIndex::Location> where;
    };
    std::vector<Wanted> plan;
    for (const auto& topic : result.topics) {
      const auto from = from_by_topic.find(topic.topic);
      const auto position = from != from_by_topic.end() ? *from->second : v1::Position();
      if (request.check_from) {
        if (auto why = unrecoverable(topic, position)) {
          result.not_recoverable = std::move(why);
          return read.done(std::move(result));
        }
      }
      // An HTTP page from before what is still stored starts at the first stored offset.
      const auto after = topic.first_offset > 0
                             ? std::max(position.offset(), topic.first_offset - 1)
                             : position.offset();
      plan.push_back({&topic, after, {}});
    }
    if (request.check_from) {  // a listed topic the log does not have: its history is gone
      std::unordered_set<std::string_view> known;
      for (const auto& topic : result.topics) known.insert(topic.topic);
      for (const auto& from : request.from) {
        if (known.contains(from.topic()) ||
            (from.position().offset() == 0 && from.position().epoch().empty()) ||
            !topic_matches(request.pattern, from.topic())) {
          continue;
        }
        result.not_recoverable =
            unrecoverable(TopicState{from.topic(), {}, 0, 0, 0}, from.position());
        if (result.not_recoverable) return read.done(std::move(result));
      }
    }
    auto budget = std::min(request.max_count, kMaxReadDeliveries);
    auto byte_budget = request.max_bytes;
    for (auto& wanted : plan) {
      if (budget == 0) {
        if (wanted.after < wanted.topic->last_offset) result.complete = false;
        continue;
      }
      // A page ends past max_bytes: no more entries than that are fetched for it.
      wanted.where = index_.locate(wanted.topic->topic, wanted.after, budget, byte_budget);
      budget -= wanted.where.size();
      for (const auto& where : wanted.where) {
        byte_budget -= std::min<std::size_t>(byte_budget, where.bytes);
      }
      if (byte_budget == 0) budget = 0;
      if (wanted.after + wanted.where.size() < wanted.topic->last_offset && !wanted.where.empty()) {
        result.complete = false;
      }
    }
    net::post(reader_.ioc, [this, plan = std::move(plan), result = std::move(result),
                            read = std::move(read), with_json = demand_.json()]() mutable {
      std::set<std::uint64_t> seqs;
      for (const auto& wanted : plan) {
        for (const auto& where : wanted.where) seqs.insert(where.seq);
      }
      std::string error;
      auto entries = fetch(seqs, error);
      auto batch = std::make_shared<DeliveryBatch>();
      v1::Article article;
      for (const auto& wanted : plan) {
        auto offset = wanted.after;
        for (const auto& where : wanted.where) {
          ++offset;
          if (batch->bytes.size() >= read.request.max_bytes) {
            result.complete = false;
            break;
          }
          const auto entry = entries.find(where.seq);
          if (entry == entries.end() ||
              static_cast<int>(where.index) >= entry->second->stored_size()) {
            // Gone from the stream (its MaxAge) since it was located, or the stream is
            // unreachable: the reader must not skip past it.
            result.complete = false;
            if (read.request.check_from) {
              result.not_recoverable = error.empty()
                                           ? fmt::format("offset {} of '{}' is no longer stored",
                                                         offset, wanted.topic->topic)
                                           : "the shared log (NATS) could not be read: " + error;
              result.batch.reset();
              return read.done(std::move(result));
            }
            break;
          }
          const auto& stored = entry->second->stored(static_cast<int>(where.index));
          article.ParseFromString(stored.article());
          const auto accepted_at =
              google::protobuf::util::TimeUtil::NanosecondsToTimestamp(stored.accepted_at_ns());
          const auto json = with_json ? article_json(stored.article()) : std::string();
          add_delivery(*batch,
                       {.header = {.topic = wanted.topic->topic,
                                   .offset = offset,
                                   .epoch = wanted.topic->epoch,
                                   .accepted_at = &accepted_at},
                        .article_bytes = stored.article(),
                        .sequence = 0,
                        .urgency = article.urgency(),
                        .language = article.language()},
                       json.empty() ? nullptr : &json);
        }
      }
      result.batch = std::move(batch);
      read.done(std::move(result));
    });
  }

  // On the reader thread: the entries at `seqs`, read from the stream's leader (what was
  // acknowledged is there): a few with one request each, more in one pass of an ordered consumer
  // from the first. A pass cut short (a leader election) goes on from where it stopped, within
  // kReadDeadline.
  Entries fetch(const std::set<std::uint64_t>& wanted, std::string& error) {
    Entries entries;
    cache_.find(wanted, entries);
    std::set<std::uint64_t> seqs;  // the rest, from the stream
    for (const auto seq : wanted) {
      if (!entries.contains(seq)) seqs.insert(seq);
    }
    const auto deadline = steady_clock::now() + kReadDeadline;
    auto next = seqs.begin();
    while (next != seqs.end()) {
      error.clear();
      if (std::distance(next, seqs.end()) <= 4) {
        natsMsg* raw = nullptr;
        jsErrCode code{};
        const auto status = js_GetMsg(&raw, js_, nats_.stream.c_str(), *next, nullptr, &code);
        const Msg msg(raw);
        if (status == NATS_OK) {
          entries[*next] = parse(msg.get());
          ++next;
          continue;
        }
        error = last_error(status);
        if (code == JSNoMessageFoundErr) {  // trimmed: the caller reports it
          ++next;
          continue;
        }
      } else {
        next = read_pass(seqs, next, entries, error);
      }
      if (!error.empty()) {
        if (steady_clock::now() >= deadline || stopping_flag_.load()) break;
        std::this_thread::sleep_for(kRetryInterval);
      }
    }
    return entries;
  }

  // One ordered consumer from *next to the last of `seqs`; where the next pass starts.
  std::set<std::uint64_t>::const_iterator read_pass(const std::set<std::uint64_t>& seqs,
                                                    std::set<std::uint64_t>::const_iterator next,
                                                    Entries& entries, std::string& error) {
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = nats_.stream.c_str();
    options.Ordered = true;
    options.Config.DeliverPolicy = js_DeliverByStartSequence;
    options.Config.OptStartSeq = *next;
    options.Config.Heartbeat = std::chrono::nanoseconds(std::chrono::seconds(1)).count();
    natsSubscription* raw = nullptr;
    jsErrCode code{};
    auto status = js_SubscribeSync(&raw, js_, subject_.c_str(), nullptr, &options, &code);
    if (status != NATS_OK) {
      error = last_error(status);
      return next;
    }
    const Subscription subscription(raw);
    const auto last = *seqs.rbegin();
    while (next != seqs.end()) {
      natsMsg* msg_raw = nullptr;
      status = natsSubscription_NextMsg(&msg_raw, subscription.get(), kWriteWait.count());
      const Msg msg(msg_raw);
      if (status != NATS_OK) {
        error = last_error(status);
        break;
      }
      jsMsgMetaData* meta_raw = nullptr;
      if (natsMsg_GetMetaData(&meta_raw, msg.get()) != NATS_OK) continue;
      const Meta meta(meta_raw);
      const auto seq = meta->Sequence.Stream;
      while (next != seqs.end() && *next < seq) ++next;  // gone from the stream: reported later
      if (next != seqs.end() && *next == seq) {
        entries[seq] = parse(msg.get());
        ++next;
      }
      if (seq >= last) break;
    }
    natsSubscription_Unsubscribe(subscription.get());
    return next;
  }

  static EntryPtr parse(natsMsg* msg) {
    auto entry = std::make_shared<log::v1::Entry>();
    entry->ParseFromArray(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    return entry;
  }

  // ------------------------------------------------------------------ retention

  void schedule_sweep() {
    sweep_timer_.expires_after(store_.retention.sweep_interval);
    sweep_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      if (const auto dropped = index_.trim(store_.retention, current_nanoseconds())) {
        logging::debug({"nats.retention_trimmed"}, "store: retention trimmed {} deliveries",
                       dropped);
      }
      schedule_sweep();
    });
  }

  const NatsOptions nats_;
  const StoreOptions store_;
  const BatchSink sink_;
  const EncodingDemand& demand_;
  LatencyHistogram& commit_latency_;
  LogMetrics& metrics_;
  const std::string subject_;
  const std::string instance_;  // this broker's part of every write id

  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
  std::atomic<bool> connected_{true};
  std::atomic<std::size_t> unapplied_bytes_{
      0};                                   // handed to the writer by the follower, not applied
  std::atomic<bool> stopping_flag_{false};  // the follower stops waiting on the writer

  // Writer thread only.
  LogIndex index_;
  StreamIdentity identity_;
  std::string epoch_;
  bool attached_ = false;
  bool ready_ = false;  // applied everything the stream held when last looked at
  bool reported_unreachable_ = false;
  bool stopping_ = false;
  std::uint64_t target_seq_ = 0;
  std::uint64_t generation_ = 0;  // of the follower: entries of an older one are dropped
  Subscription follower_;
  std::vector<std::unique_ptr<Follower>> followers_;  // every one started, for their callbacks
  std::vector<std::future<void>> follower_completions_;
  std::uint64_t retry_token_ = 0;
  std::optional<Group> inflight_;
  std::uint64_t writes_ = 0;
  std::optional<steady_clock::time_point> queued_since_;
  bool queue_check_scheduled_ = false;
  std::vector<PendingRead> waiting_reads_;
  std::vector<std::function<void()>> flush_waiters_;

  EntryCache cache_{nats_.cache_bytes};
  PublishQueue queue_;
  WorkerThread writer_;
  WorkerThread reader_;
  net::steady_timer watch_timer_{writer_.ioc};
  net::steady_timer retry_timer_{writer_.ioc};
  net::steady_timer queue_timer_{writer_.ioc};
  net::steady_timer sweep_timer_{writer_.ioc};
  std::int64_t stream_max_age_ns_ = 0;  // the stream's MaxAge (0: kept forever)
  net::steady_timer embargo_timer_{writer_.ioc};
  std::optional<std::int64_t> embargo_at_;  // what embargo_timer_ waits for
};

NatsEngine::NatsEngine(NatsOptions nats, StoreOptions store, BatchSink sink,
                       LatencyHistogram& commit_latency, LogMetrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(nats), std::move(store), std::move(sink), demand(),
                                   commit_latency, metrics)) {
  metrics.used.store(true);
}

NatsEngine::~NatsEngine() = default;

void NatsEngine::publish(std::vector<PublishRequest> requests) {
  impl_->publish(std::move(requests));
}

void NatsEngine::flush(std::function<void()> done) {
  impl_->flush(std::move(done));
}

void NatsEngine::read(ReadRequest request, ReadCallback done) {
  impl_->read(std::move(request), std::move(done));
}

}  // namespace kabar::broker
