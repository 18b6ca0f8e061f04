#include "net/publish_check.hpp"

#include <fmt/format.h>

#include "kabar/common/log_safe.hpp"

namespace kabar::broker {

std::optional<Rejection> check_publish(v1::Article& article, const Routes& routes,
                                       std::size_t max_article_bytes, const jwt::Claims* claims) {
  routes.route(article);
  if (article.topics().empty() && article.subjects_size() == 0) {
    return Rejection{v1::Error::BAD_REQUEST,
                     "the article has no topic: name one (article.topics, or ?topic= over HTTP), "
                     "or tag it with a subject that --routes maps"};
  }
  if (article.topics().empty()) {
    const auto& first = article.subjects(0);
    const auto& named = !first.code().empty()  ? first.code()
                        : !first.uri().empty() ? first.uri()
                                               : first.name();
    return Rejection{
        v1::Error::BAD_REQUEST,
        fmt::format("article.topics is empty and none of its {} subjects ('{}'{}) is in the "
                    "routing table{}: name a topic, or map a subject in --routes",
                    article.subjects_size(), log_safe(named, 80),
                    article.subjects_size() > 1 ? ", ..." : "",
                    routes.size() == 0 ? " (the broker has none)" : "")};
  }
  if (auto rejection = validate_article(article, max_article_bytes)) return rejection;
  if (claims == nullptr) return std::nullopt;
  for (const auto& topic : article.topics()) {
    if (!jwt::granted(claims->publish, topic)) {
      return Rejection{v1::Error::FORBIDDEN,
                       "the token does not grant publishing to '" + topic + "': nothing stored"};
    }
  }
  return std::nullopt;
}

Rejection over_publish_rate(double rate) {
  return Rejection{
      v1::Error::RATE_LIMITED,
      fmt::format("publish rate over {}/s on this connection: not stored, publish again later",
                  rate)};
}

}  // namespace kabar::broker
