#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kabar/broker/engine.hpp"
#include "net/http_answer.hpp"

/// GET /v1/topics[?after=NAME&limit=N] and GET /v1/topics/{topic}: the topics the store knows,
/// with their positions and how many connections receive each; and the same counts as the
/// kabar_topic_receivers gauge. Kept apart from the HTTP session so that it compiles without
/// Beast.
namespace kabar::broker::topic_list {

struct Query {
  std::string topic;  ///< one topic; empty: the list
  std::string after;  ///< the list: topics named after this one
  std::size_t limit = 1000;
};

/// Topics in one answer at most: the receivers of each are counted on the I/O threads (in
/// slices) and the answer is encoded on one of them, so a page stays small.
constexpr std::size_t kMaxLimit = 1000;
/// Topics with a series of their own in kabar_topic_receivers; the rest are summed under
/// topic="_other", so that a flood of topics cannot blow up a scrape.
constexpr std::size_t kMaxGaugeTopics = 1000;

/// Whether `path` (no query string) names this endpoint (not the history under it).
[[nodiscard]] bool matches(std::string_view path);

/// The query `target` asks for, or why it is bad (a message for a 400).
[[nodiscard]] std::variant<Query, std::string> parse(std::string_view target);

/// The engine read that lists the topics `query` asks for (positions and last times, no article).
[[nodiscard]] ReadRequest read_request(const Query& query);

/// The topics one answer shows, in name order.
struct Page {
  std::vector<TopicState> topics;
  bool more = false;  ///< topics were left out by the limit: the answer links to the next page
};

/// The topics of a read that the reader may see: after `query.after`, granted by `grants` (all
/// when null), at most `query.limit`.
[[nodiscard]] Page page(const Query& query, std::vector<TopicState> topics,
                        const std::vector<std::string>* grants);

/// The answer, `receivers` holding the count of each of page.topics: a kabar.v1.TopicList (a
/// kabar.v1.TopicInfo for one topic) in the protobuf JSON mapping, every field printed; the next
/// page in a Link header (rel="next"); 404 for one topic never stored.
[[nodiscard]] Answer answer(const Query& query, const Page& page,
                            const std::vector<std::uint64_t>& receivers);

/// kabar_topic_receivers{topic} in the Prometheus text format: the first kMaxGaugeTopics topics by
/// name, and the sum of the others as topic="_other".
[[nodiscard]] std::string receivers_gauge(const std::vector<TopicState>& topics,
                                          const std::vector<std::uint64_t>& receivers);

}  // namespace kabar::broker::topic_list
