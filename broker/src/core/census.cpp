#include "core/census.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>

namespace kabar::broker {

struct ReceiverCensus::State {
  std::vector<std::string> topics;
  std::vector<std::atomic<std::uint64_t>> counts;
  std::atomic<std::size_t> shards_left;
  Done done;

  State(std::vector<std::string> t, std::size_t shards, Done d)
      : topics(std::move(t)), counts(topics.size()), shards_left(shards), done(std::move(d)) {}

  void shard_finished() {
    if (shards_left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    std::vector<std::uint64_t> totals;
    totals.reserve(counts.size());
    for (const auto& count : counts) totals.push_back(count.load(std::memory_order_relaxed));
    auto finish = std::move(done);
    finish(totals);
  }
};

namespace {

// Counts topics [from, from + kSlice) on `shard`, then posts the rest behind whatever the shard
// has queued meanwhile.
void count_slice(Shard& shard, std::shared_ptr<ReceiverCensus::State> state, std::size_t from) {
  const auto to = std::min(state->topics.size(), from + ReceiverCensus::kSlice);
  for (auto i = from; i < to; ++i) {
    state->counts[i].fetch_add(shard.fanout().receivers(state->topics[i]),
                               std::memory_order_relaxed);
  }
  if (to == state->topics.size()) return state->shard_finished();
  boost::asio::post(shard.io_context(), [&shard, state = std::move(state), to]() mutable {
    count_slice(shard, std::move(state), to);
  });
}

}  // namespace

void ReceiverCensus::count(std::vector<std::string> topics, Done done) {
  auto state = std::make_shared<State>(std::move(topics), shards_.size(), std::move(done));
  {
    std::lock_guard lock(mutex_);
    std::erase_if(in_flight_, [](const auto& census) { return census.expired(); });
    in_flight_.push_back(state);
  }
  for (auto& shard : shards_) {
    boost::asio::post(shard.io_context(), [&shard, state] { count_slice(shard, state, 0); });
  }
}

void ReceiverCensus::abandon() {
  std::lock_guard lock(mutex_);
  for (const auto& census : in_flight_) {
    if (auto state = census.lock()) state->done = nullptr;
  }
  in_flight_.clear();
}

}  // namespace kabar::broker
