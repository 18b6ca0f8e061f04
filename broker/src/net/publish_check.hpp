#pragma once

#include <optional>

#include "core/routes.hpp"
#include "kabar/common/article.hpp"
#include "kabar/common/jwt.hpp"

namespace kabar::broker {

/// What a publish must pass before the store, the same over the WebSocket (Publish) and over HTTP
/// (POST /v1/articles): topics added by subject (`routes`), the article validated (at most
/// `max_article_bytes` encoded), and the publish grant of `claims` checked on every topic it
/// ends with. `claims` null: no token to check (none configured, or anonymous allowed).
[[nodiscard]] std::optional<Rejection> check_publish(v1::Article& article, const Routes& routes,
                                                     std::size_t max_article_bytes,
                                                     const jwt::Claims* claims);

/// The refusal of a publish over --publish-rate on its connection.
[[nodiscard]] Rejection over_publish_rate(double rate);

}  // namespace kabar::broker
