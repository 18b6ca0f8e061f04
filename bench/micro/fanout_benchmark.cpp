// Micro-benchmarks of the broker's fan-out hot path, so that a regression shows without a full
// kabar-bench run: `build/release/bench/kabar-microbench`.
#include <benchmark/benchmark.h>

#include "kabar/broker/fanout.hpp"
#include "kabar/broker/frames.hpp"
#include "kabar/broker/subscription_index.hpp"

namespace kabar::broker {
namespace {

v1::Article article_of(std::size_t body) {
  v1::Article article;
  article.set_id("urn:kabar:bench:1");
  article.set_version(1);
  article.add_topics("international");
  article.set_headline("Korea Utara Akui Kirim Pasukan Tempur ke Rusia");
  article.set_body(std::string(body, 'x'));
  article.set_urgency(1);
  return article;
}

void BM_EncodeDelivery(benchmark::State& state) {
  const auto article_bytes =
      article_of(static_cast<std::size_t>(state.range(0))).SerializeAsString();
  google::protobuf::Timestamp accepted;
  accepted.set_seconds(1745823600);
  std::string out;
  for (auto _ : state) {
    out.clear();
    append_delivery(out, {"international", 123456, "mem-0123456789abcdef", &accepted},
                    article_bytes);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(BM_EncodeDelivery)->Arg(1024)->Arg(16 * 1024);

// 10 000 subscriptions: exact topics over 1 000 names, and a tenth of them patterns.
void BM_MatchTopicAgainst10kSubscriptions(benchmark::State& state) {
  SubscriptionIndex<int> index;
  for (int i = 0; i < 10'000; ++i) {
    const auto region = "region" + std::to_string(i % 1000);
    if (i % 10 == 0) {
      index.add("news." + region + ".>", i);
    } else if (i % 10 == 1) {
      index.add("news.*.defense", i);
    } else {
      index.add("news." + region + ".defense", i);
    }
  }
  std::size_t matched = 0;
  for (auto _ : state) {
    index.match("news.region7.defense", [&](int) { ++matched; });
  }
  benchmark::DoNotOptimize(matched);
  state.counters["matches"] =
      static_cast<double>(matched) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_MatchTopicAgainst10kSubscriptions);

class CountingSubscriber final : public Subscriber {
 public:
  void enqueue(const std::shared_ptr<const DeliveryBatch>&, const DeliveryRef& ref) override {
    bytes += ref.size;
  }
  void end_of_batch() override { ++flushes; }
  std::size_t bytes = 0;
  std::size_t flushes = 0;
};

// One batch of `range(0)` deliveries on one topic to 10 000 subscribers of it.
void BM_EnqueueTo10kSubscribers(benchmark::State& state) {
  Fanout fanout;
  std::vector<CountingSubscriber> subscribers(10'000);
  for (auto& s : subscribers) fanout.subscribe(s, "international", {});
  auto batch = std::make_shared<DeliveryBatch>();
  const auto article_bytes = article_of(1024).SerializeAsString();
  std::uint64_t sequence = 0;
  for (auto _ : state) {
    state.PauseTiming();
    batch->bytes.clear();
    batch->deliveries.clear();
    for (std::int64_t i = 0; i < state.range(0); ++i) {
      const auto begin = batch->bytes.size();
      append_delivery(batch->bytes, {"international", sequence + 1, "e", nullptr}, article_bytes);
      batch->deliveries.push_back(
          {"international", sequence + 1, ++sequence, 1, "id", begin, batch->bytes.size() - begin});
    }
    state.ResumeTiming();
    fanout.dispatch(batch);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0) * 10'000);
}
BENCHMARK(BM_EnqueueTo10kSubscribers)->Arg(1)->Arg(8);

// GET /v1/topics and the kabar_topic_receivers gauge: one census slice (ReceiverCensus::kSlice
// topics) on a shard of 10 000 connections, each subscribed to its desk's topic (one of 100)
// and to its region's pattern; `range(0)` of them also follow everything (">"). The time of one
// slice is how long a count holds the shard's loop at a stretch.
void BM_CountReceiversOfASlice(benchmark::State& state) {
  Fanout fanout;
  std::vector<CountingSubscriber> subscribers(10'000);
  for (std::size_t i = 0; i < subscribers.size(); ++i) {
    fanout.subscribe(subscribers[i], "desk" + std::to_string(i % 100) + ".news", {});
    fanout.subscribe(subscribers[i], "desk" + std::to_string(i % 100) + ".>", {});
    if (i < static_cast<std::size_t>(state.range(0))) fanout.subscribe(subscribers[i], ">", {});
  }
  std::vector<std::string> topics(64);
  for (std::size_t i = 0; i < topics.size(); ++i) topics[i] = "desk" + std::to_string(i) + ".news";
  std::size_t receivers = 0;
  for (auto _ : state) {
    for (const auto& topic : topics) receivers += fanout.receivers(topic);
  }
  benchmark::DoNotOptimize(receivers);
  const auto counted = state.iterations() * static_cast<std::int64_t>(topics.size());
  state.counters["receivers_per_topic"] =
      static_cast<double>(receivers) / static_cast<double>(counted);
  state.SetItemsProcessed(counted);
}
BENCHMARK(BM_CountReceiversOfASlice)->Arg(0)->Arg(10'000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kabar::broker

BENCHMARK_MAIN();
