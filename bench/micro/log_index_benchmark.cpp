// The index a broker on --store nats keeps of the shared log: how fast it replays the log, and
// what each retained article version costs in memory (the heap in use, before and after).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include "kabar/common/time.hpp"
#include "store/log_index.hpp"

namespace kabar::broker {
namespace {

// Entries of 50 articles, as a busy desk's groups are; ids as long as the fixtures' URNs, each
// article on two of 16 topics.
std::vector<log::v1::Entry> make_log(std::size_t articles) {
  constexpr std::size_t kPerEntry = 50;
  std::vector<log::v1::Entry> entries;
  std::map<std::string, std::uint64_t> last;
  v1::Article article;
  article.set_version(1);
  article.set_headline("Korea Utara Akui Kirim Pasukan Tempur ke Rusia");
  article.set_body(std::string(1024, 'x'));
  for (std::size_t i = 0; i < articles; ++i) {
    if (i % kPerEntry == 0) entries.emplace_back();
    article.set_id("urn:example:ikolom:2025-04-28:korea-utara-pasukan-rusia-" + std::to_string(i));
    article.clear_topics();
    article.add_topics("region" + std::to_string(i % 16));
    article.add_topics("desk" + std::to_string(i % 5));
    auto& stored = *entries.back().add_stored();
    article.SerializeToString(stored.mutable_article());
    stored.set_accepted_at_ns(current_nanoseconds());
    for (const auto& topic : article.topics()) stored.add_offsets(++last[topic]);
  }
  return entries;
}

void BM_LogIndexReplay(benchmark::State& state) {
  const auto articles = static_cast<std::size_t>(state.range(0));
  const auto entries = make_log(articles);
  double bytes_per_article = 0;
  for (auto _ : state) {
    const auto before = mallinfo2().uordblks;
    {
      LogIndex index;
      std::uint64_t seq = 0;
      for (const auto& entry : entries) {
        DeliveryBatch batch;  // what the fan-out would take: dropped here
        index.apply(++seq, 0, entry, "nats-e", false, batch, nullptr);
      }
      bytes_per_article =
          static_cast<double>(mallinfo2().uordblks - before) / static_cast<double>(articles);
      benchmark::DoNotOptimize(index.applied_seq());
      state.PauseTiming();  // the index's destruction is not the replay
    }
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(articles));
  state.counters["index_bytes_per_article"] = bytes_per_article;
}
BENCHMARK(BM_LogIndexReplay)->Arg(100'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kabar::broker
