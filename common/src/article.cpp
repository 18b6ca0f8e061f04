#include "kabar/common/article.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "kabar/common/ascii.hpp"
#include "kabar/common/time.hpp"
#include "kabar/common/topic.hpp"

namespace kabar {
namespace {

Rejection bad_request(std::string message) {
  return Rejection{v1::Error::BAD_REQUEST, std::move(message)};
}

// BCP 47 in its common shape: alphanumeric subtags of 1-8 characters joined by '-'.
bool looks_like_language_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 35) return false;
  std::size_t subtag = 0;
  for (char c : tag) {
    if (c == '-') {
      if (subtag == 0) return false;
      subtag = 0;
      continue;
    }
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum || ++subtag > 8) return false;
  }
  return subtag != 0;
}

// "en" matches "en" and "en-GB", case-insensitively (BCP 47 tags are case-insensitive).
bool language_matches(std::string_view wanted, std::string_view language) {
  if (language.size() < wanted.size()) return false;
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    if (lower_ascii(wanted[i]) != lower_ascii(language[i])) return false;
  }
  return language.size() == wanted.size() || language[wanted.size()] == '-';
}

}  // namespace

std::optional<Rejection> validate_article(v1::Article& article, std::size_t max_bytes) {
  if (article.id().empty()) return bad_request("article.id is required");
  if (article.id().size() > kMaxArticleIdLength) {
    return bad_request("article.id is longer than " + std::to_string(kMaxArticleIdLength) +
                       " bytes");
  }
  if (article.topics().empty()) return bad_request("article.topics needs at least one topic");
  if (static_cast<std::size_t>(article.topics_size()) > kMaxTopicsPerArticle) {
    return bad_request("article.topics has more than " + std::to_string(kMaxTopicsPerArticle) +
                       " topics");
  }
  std::set<std::string_view> seen;
  for (const auto& topic : article.topics()) {
    if (auto error = topic_error(topic)) {
      return bad_request("article.topics: '" + topic.substr(0, 80) + "': " + *error);
    }
    if (!seen.insert(topic).second) {
      return bad_request("article.topics names '" + topic + "' twice");
    }
  }
  if (static_cast<std::size_t>(article.subjects_size()) > kMaxSubjectsPerArticle) {
    return bad_request("article.subjects has more than " + std::to_string(kMaxSubjectsPerArticle) +
                       " subjects");
  }
  if (!article.type().empty() && std::find(kArticleTypes.begin(), kArticleTypes.end(),
                                           article.type()) == kArticleTypes.end()) {
    return bad_request("article.type '" + article.type().substr(0, 80) +
                       "' is not a ninjs type: text, audio, video, picture, graphic, composite or "
                       "component");
  }
  if (article.headline().empty() && article.body().empty()) {
    return bad_request("article needs a headline or a body");
  }
  if (article.urgency() > kMaxUrgency) {
    return bad_request("article.urgency must be 0 (not set) or 1 (flash) to 9, not " +
                       std::to_string(article.urgency()));
  }
  if (!v1::PubStatus_IsValid(article.pubstatus())) {
    return bad_request("article.pubstatus " + std::to_string(article.pubstatus()) +
                       " is not usable (0), withheld (1) or canceled (2)");
  }
  if (!article.language().empty() && !looks_like_language_tag(article.language())) {
    return bad_request("article.language '" + article.language().substr(0, 40) +
                       "' is not a BCP 47 language tag");
  }
  const std::pair<const google::protobuf::Timestamp*, const char*> times[] = {
      {article.has_first_created() ? &article.first_created() : nullptr, "article.first_created"},
      {article.has_version_created() ? &article.version_created() : nullptr,
       "article.version_created"},
      {article.has_embargoed() ? &article.embargoed() : nullptr, "article.embargoed"}};
  for (const auto& [time, field] : times) {
    if (time == nullptr) continue;
    if (auto error = timestamp_error(*time, field)) return bad_request(std::move(*error));
  }
  if (article.version() == 0) article.set_version(1);
  if (const auto size = article.ByteSizeLong(); size > max_bytes) {
    return Rejection{v1::Error::TOO_LARGE, "article is " + std::to_string(size) +
                                               " bytes encoded; the limit is " +
                                               std::to_string(max_bytes)};
  }
  return std::nullopt;
}

std::optional<std::string> filter_error(const v1::Filter& filter) {
  if (filter.max_urgency() > kMaxUrgency) {
    return "filter.max_urgency must be 0 (no filter) or 1 to 9, not " +
           std::to_string(filter.max_urgency());
  }
  if (static_cast<std::size_t>(filter.languages_size()) > kMaxFilterLanguages) {
    return "filter.languages has more than " + std::to_string(kMaxFilterLanguages) + " languages";
  }
  for (const auto& language : filter.languages()) {
    if (!looks_like_language_tag(language)) {
      return "filter.languages: '" + language.substr(0, 40) + "' is not a BCP 47 language tag";
    }
  }
  return std::nullopt;
}

bool filter_accepts(const v1::Filter& filter, std::uint32_t urgency, std::string_view language) {
  if (filter.max_urgency() != 0 && (urgency == 0 || urgency > filter.max_urgency())) return false;
  if (filter.languages().empty()) return true;
  return std::any_of(filter.languages().begin(), filter.languages().end(),
                     [&](const std::string& wanted) { return language_matches(wanted, language); });
}

}  // namespace kabar
