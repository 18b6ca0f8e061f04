#include "store/log_index.hpp"

#include <fmt/format.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <unordered_set>

#include "base/log.hpp"
#include "kabar/common/time.hpp"
#include "kabar/common/topic.hpp"

namespace kabar::broker {

using google::protobuf::util::TimeUtil;

namespace {

// Where version `number` is, or would go, in an article's versions (sorted by number).
template <class Versions>
auto version_at(Versions& versions, std::uint32_t number) {
  return std::lower_bound(
      versions.begin(), versions.end(), number,
      [](const auto& version, std::uint32_t wanted) { return version.number < wanted; });
}

}  // namespace

LogIndex::Plan LogIndex::plan(const std::vector<PublishRequest>& requests, const std::string& epoch,
                              std::int64_t now, std::int64_t longest_hold_ns) const {
  Plan plan;
  plan.answered.resize(requests.size());
  plan.slot.resize(requests.size());
  plan.same_as.resize(requests.size());
  // What the group itself adds, on top of the index: topics' next offsets, ids' new versions.
  std::unordered_map<std::string, std::uint64_t> last_offsets;
  std::unordered_map<std::string, std::pair<std::uint32_t, std::size_t>> group_latest;
  auto next_offset = [&](const std::string& topic) {
    auto [last, created] = last_offsets.try_emplace(topic, 0);
    if (created) {
      const auto known = topics_.find(topic);
      if (known != topics_.end()) last->second = known->second.last_offset;
    }
    return ++last->second;
  };
  // Embargoes lifted by now go first: the entry releases them before it stores anything new.
  v1::Article held_article;
  for (const auto& [where, held] : held_) {
    if (held.until_ns > now) continue;
    held_article.ParseFromString(held.article);
    auto& release = *plan.entry.add_stored();
    release.set_article(held.article);
    release.set_accepted_at_ns(held.accepted_at_ns);
    release.set_releases_seq(where.first);
    release.set_releases_index(where.second);
    for (const auto& topic : held_article.topics()) release.add_offsets(next_offset(topic));
  }
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& article = requests[i].article;
    auto answer = [&](std::optional<Rejection> rejection) {
      PublishOutcome outcome;
      outcome.rejection = std::move(rejection);
      outcome.result.set_id(article.id());
      outcome.result.set_version(article.version());
      return outcome;
    };
    // The newest version stored, or written earlier in this group.
    const auto stored = articles_.find(article.id());
    std::optional<std::uint32_t> latest;
    if (stored != articles_.end() && !stored->second.empty()) {
      latest = stored->second.back().number;
    }
    const auto in_group = group_latest.find(article.id());
    if (in_group != group_latest.end()) latest = in_group->second.first;
    if (latest && *latest >= article.version()) {
      if (in_group != group_latest.end() && in_group->second.first == article.version()) {
        plan.same_as[i] = in_group->second.second;
        continue;
      }
      const Version* found =
          stored != articles_.end() ? find_version(stored->second, article.version()) : nullptr;
      if (found == nullptr) {
        plan.answered[i] = answer(
            Rejection{v1::Error::BAD_REQUEST,
                      "article '" + article.id() + "' version " +
                          std::to_string(article.version()) + " is older than its stored version " +
                          std::to_string(*latest) + ": a correction needs a higher version"});
        continue;
      }
      auto outcome = answer(std::nullopt);
      describe(article.id(), article.version(), *found, epoch, outcome.result);
      plan.answered[i] = std::move(outcome);
      continue;
    }
    const auto held_until =
        article.has_embargoed() ? saturating_nanoseconds(article.embargoed()) : std::int64_t{0};
    // The stream drops an entry MaxAge after it was written: one held longer is never released.
    if (longest_hold_ns > 0 && held_until > saturating_add(now, longest_hold_ns)) {
      plan.answered[i] = answer(Rejection{
          v1::Error::BAD_REQUEST,
          fmt::format("article.embargoed lifts more than {} h from now, after the shared log "
                      "(the NATS stream's MaxAge, from the longest --retention-hours) drops what "
                      "it stores: publish it nearer its time, or keep history longer",
                      longest_hold_ns / kNanosecondsPerHour)});
      continue;
    }
    auto& entry = *plan.entry.add_stored();
    article.SerializeToString(entry.mutable_article());
    entry.set_accepted_at_ns(TimeUtil::TimestampToNanoseconds(requests[i].accepted_at));
    // Held until its embargo lifts: stored now, offsets when a release stores it again.
    if (held_until > now) {
      entry.set_held(true);
    } else {
      for (const auto& topic : article.topics()) entry.add_offsets(next_offset(topic));
    }
    plan.slot[i] = static_cast<std::size_t>(plan.entry.stored_size() - 1);
    group_latest[article.id()] = {article.version(), i};
  }
  return plan;
}

const LogIndex::Version* LogIndex::find_version(const Versions& versions, std::uint32_t number) {
  const auto found = version_at(versions, number);
  return found != versions.end() && found->number == number ? &*found : nullptr;
}

LogIndex::Version& LogIndex::version_of(const v1::Article& article) {
  auto& versions = articles_[article.id()];
  const auto at = version_at(versions, article.version());
  if (at != versions.end() && at->number == article.version()) return *at;
  return *versions.insert(at, Version{article.version(), false, {}, {}});
}

void LogIndex::describe(const std::string& id, std::uint32_t version, const Version& stored,
                        const std::string& epoch, v1::PublishResult& result) const {
  result.set_id(id);
  result.set_version(version);
  result.set_duplicate(true);
  result.set_epoch(epoch);
  if (stored.held) {
    const auto held = held_.find(stored.where);
    v1::Article article;
    if (held != held_.end() && article.ParseFromString(held->second.article)) {
      *result.mutable_embargoed_until() = article.embargoed();
    }
    return;
  }
  for (const auto& [topic, offset] : stored.offsets) {
    auto* topic_offset = result.add_offsets();
    topic_offset->set_topic(*topic);
    topic_offset->set_offset(offset);
    topic_offset->set_epoch(epoch);
  }
}

bool LogIndex::apply(std::uint64_t seq, std::int64_t at_ns, const log::v1::Entry& entry,
                     const std::string& epoch, bool with_json, DeliveryBatch& batch,
                     std::vector<v1::PublishResult>* results) {
  if (seq <= applied_seq_) return false;
  applied_seq_ = seq;
  v1::Article article;
  for (int i = 0; i < entry.stored_size(); ++i) {
    const auto& stored = entry.stored(i);
    v1::PublishResult* result = results != nullptr ? &results->emplace_back() : nullptr;
    if (!article.ParseFromString(stored.article()) ||
        stored.offsets_size() != (stored.held() ? 0 : article.topics_size())) {
      logging::error({"store.entry_unparsable"},
                     "store: log entry {} holds an article that does not parse: skipped", seq);
      continue;
    }
    const Where where{seq, static_cast<std::uint32_t>(i)};
    if (stored.releases_seq() != 0) {
      const auto held = held_.find({stored.releases_seq(), stored.releases_index()});
      if (held == held_.end()) continue;  // released already, or superseded
      logging::info({"store.embargo_lifted"}, "store: embargo lifted on '{}' version {}",
                    article.id(), article.version());
      held_.erase(held);
      add_version(article, where, {stored.article(), stored.accepted_at_ns(), stored.offsets()},
                  at_ns, epoch, with_json, batch, nullptr);
      continue;
    }
    supersede_held(article);
    if (result != nullptr) {
      result->set_id(article.id());
      result->set_version(article.version());
      result->set_epoch(epoch);
    }
    if (stored.held()) {
      version_of(article) = Version{article.version(), true, where, {}};
      held_[where] = Held{saturating_nanoseconds(article.embargoed()), stored.article(),
                          stored.accepted_at_ns()};
      if (result != nullptr) *result->mutable_embargoed_until() = article.embargoed();
      continue;
    }
    add_version(article, where, {stored.article(), stored.accepted_at_ns(), stored.offsets()},
                at_ns, epoch, with_json, batch, result);
  }
  return true;
}

void LogIndex::supersede_held(const v1::Article& article) {
  const auto versions = articles_.find(article.id());
  if (versions == articles_.end()) return;
  for (auto& version : versions->second) {
    if (version.number >= article.version() || !version.held) continue;
    logging::info(
        {"store.embargo_superseded"},
        "store: '{}' version {} is superseded by version {} while under embargo: it will never "
        "be released",
        article.id(), version.number, article.version());
    held_.erase(version.where);
    version.held = false;
  }
}

void LogIndex::add_version(const v1::Article& article, Where where, const Stored& stored,
                           std::int64_t at_ns, const std::string& epoch, bool with_json,
                           DeliveryBatch& batch, v1::PublishResult* result) {
  auto& version = version_of(article);
  version = Version{article.version(), false, where, {}};
  version.offsets.reserve(static_cast<std::size_t>(article.topics_size()));
  const auto accepted_at = TimeUtil::NanosecondsToTimestamp(stored.accepted_at_ns);
  const auto json = with_json ? article_json(stored.article) : std::string();
  for (int t = 0; t < article.topics_size(); ++t) {
    const auto& name = article.topics(t);
    const auto offset = stored.offsets.Get(t);
    auto& [topic_name, topic] = *topics_.try_emplace(name).first;
    if (offset != topic.last_offset + 1) {
      // Entries the stream no longer holds (its MaxAge) came before: history starts here.
      if (offset <= topic.last_offset) {
        logging::error({"store.entry_out_of_order"},
                       "store: log entry {} gives '{}' offset {} again (last {}): skipped",
                       where.first, name, offset, topic.last_offset);
        continue;
      }
      topic.stored.clear();
    }
    topic.last_offset = offset;
    topic.stored.push_back(
        {where.first, at_ns, where.second, static_cast<std::uint32_t>(stored.article.size())});
    version.offsets.emplace_back(&topic_name, offset);
    if (result != nullptr) {
      auto* topic_offset = result->add_offsets();
      topic_offset->set_topic(name);
      topic_offset->set_offset(offset);
      topic_offset->set_epoch(epoch);
    }
    add_delivery(
        batch,
        {.header = {.topic = name, .offset = offset, .epoch = epoch, .accepted_at = &accepted_at},
         .article_bytes = stored.article,
         .sequence = next_delivery_sequence_++,
         .urgency = article.urgency(),
         .language = article.language()},
        json.empty() ? nullptr : &json);
  }
}

std::optional<std::int64_t> LogIndex::next_release_ns() const {
  std::optional<std::int64_t> next;
  for (const auto& [where, held] : held_) {
    if (!next || held.until_ns < *next) next = held.until_ns;
  }
  return next;
}

std::vector<TopicState> LogIndex::topics(const std::string& pattern, bool last_times,
                                         const std::string& epoch) const {
  std::vector<TopicState> states;
  auto add = [&](const std::string& name, const Topic& topic) {
    const auto held = static_cast<std::uint64_t>(topic.stored.size());
    states.push_back({.topic = name,
                      .epoch = epoch,
                      .first_offset = held > 0 ? topic.last_offset - held + 1 : 0,
                      .last_offset = topic.last_offset,
                      .last_at_ns = last_times && held > 0 ? topic.stored.back().at_ns : 0});
  };
  if (!is_pattern(pattern)) {
    const auto it = topics_.find(pattern);
    if (it != topics_.end()) add(it->first, it->second);
    return states;
  }
  for (const auto& [name, topic] : topics_) {  // sorted by name
    if (topic_matches(pattern, name)) add(name, topic);
  }
  return states;
}

std::vector<LogIndex::Location> LogIndex::locate(const std::string& name, std::uint64_t after,
                                                 std::size_t count, std::size_t max_bytes) const {
  std::vector<Location> found;
  const auto it = topics_.find(name);
  if (it == topics_.end()) return found;
  const auto& topic = it->second;
  const auto first = topic.last_offset - topic.stored.size() + 1;
  auto from = std::max(after + 1, first);
  std::size_t bytes = 0;
  for (; from <= topic.last_offset && found.size() < count && bytes < max_bytes; ++from) {
    found.push_back(topic.stored[from - first]);
    bytes += found.back().bytes;
  }
  return found;
}

std::size_t LogIndex::trim(const Retention& retention, std::int64_t now_ns) {
  std::size_t dropped = 0;
  for (auto& [name, topic] : topics_) {
    const auto& limits = retention.for_topic(name);
    const auto cutoff =
        saturating_add(now_ns, -saturating_multiply(limits.max_age.count(), 1'000'000'000));
    while (!topic.stored.empty() &&
           (topic.stored.size() > limits.max_count || topic.stored.front().at_ns < cutoff)) {
      topic.stored.pop_front();
      ++dropped;
    }
  }
  return dropped;
}

}  // namespace kabar::broker
