#include "core/routes.hpp"

#include <toml++/toml.h>
#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "kabar/common/article.hpp"
#include "kabar/common/ascii.hpp"
#include "kabar/common/log_safe.hpp"
#include "kabar/common/topic.hpp"

namespace kabar::broker {
namespace {

[[noreturn]] void fail(const std::string& source, const toml::source_region& where,
                       const std::string& why) {
  throw std::invalid_argument(source + ":" + std::to_string(where.begin.line) + ": " + why);
}

// An entry's topics: one topic or an array of them, each a plain topic, none twice.
std::vector<std::string> entry_topics(const std::string& source, std::string_view key,
                                      const toml::node& value) {
  std::vector<std::string> topics;
  const auto add = [&](const toml::node& item) {
    const auto* topic = item.as_string();
    if (topic == nullptr) {
      fail(source, item.source(),
           "'" + log_safe(key) + "' must map to a topic or an array of topics");
    }
    const auto& name = topic->get();
    if (auto error = topic_error(name)) {
      fail(source, item.source(), "topic '" + log_safe(name.substr(0, 80)) + "': " + *error);
    }
    if (std::find(topics.begin(), topics.end(), name) != topics.end()) {
      fail(source, item.source(), "'" + log_safe(key) + "' names topic '" + name + "' twice");
    }
    topics.push_back(name);
  };
  if (const auto* array = value.as_array()) {
    for (const auto& item : *array) add(item);
    if (topics.empty()) fail(source, value.source(), "'" + log_safe(key) + "' maps to no topic");
    if (topics.size() > kMaxTopicsPerArticle) {
      fail(source, value.source(),
           "'" + log_safe(key) + "' maps to more than " + std::to_string(kMaxTopicsPerArticle) +
               " topics (an article's limit)");
    }
  } else {
    add(value);
  }
  return topics;
}

}  // namespace

Routes Routes::parse(std::string_view text, const std::string& source) {
  if (text.size() > kMaxFileBytes) {
    throw std::invalid_argument(source + ": larger than " + std::to_string(kMaxFileBytes) +
                                " bytes");
  }
  toml::table table;
  try {
    table = toml::parse(text, std::string_view(source));
  } catch (const toml::parse_error& e) {
    fail(source, e.source(), "not valid TOML: " + std::string(e.description()));
  }
  Routes routes;
  for (const auto& [name, node] : table) {
    if (name.str() != "subjects") {
      fail(source, node.source(),
           "unknown key '" + log_safe(name.str()) + "': the routing table has [subjects] only");
    }
    const auto* subjects = node.as_table();
    if (subjects == nullptr) fail(source, node.source(), "'subjects' must be a table");
    if (subjects->size() > kMaxEntries) {
      fail(source, node.source(),
           "[subjects] lists " + std::to_string(subjects->size()) + " subjects; at most " +
               std::to_string(kMaxEntries));
    }
    for (const auto& [key, value] : *subjects) {
      if (key.str().empty() || key.str().size() > kMaxKeyLength) {
        fail(source, value.source(),
             "a subject must be 1 to " + std::to_string(kMaxKeyLength) + " bytes");
      }
      auto topics = entry_topics(source, key.str(), value);
      if (!routes.topics_.emplace(lower_ascii(key.str()), std::move(topics)).second) {
        fail(source, value.source(),
             "'" + log_safe(key.str()) + "' is listed twice (subjects are compared without case)");
      }
    }
  }
  return routes;
}

Routes Routes::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read routing table " + file.string());
  std::string text;
  text.resize(kMaxFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return parse(text, file.string());
}

void Routes::route(v1::Article& article) const {
  if (topics_.empty()) return;
  const auto subjects = std::min<std::size_t>(static_cast<std::size_t>(article.subjects_size()),
                                              kMaxSubjectsPerArticle);
  for (std::size_t i = 0; i < subjects; ++i) {
    const auto& subject = article.subjects(static_cast<int>(i));
    for (const auto* key : {&subject.code(), &subject.uri(), &subject.name()}) {
      if (!key->empty() && key->size() <= kMaxKeyLength) add_topics(*key, article);
    }
  }
}

void Routes::add_topics(std::string_view key, v1::Article& article) const {
  const auto found = topics_.find(lower_ascii(key));
  if (found == topics_.end()) return;
  for (const auto& topic : found->second) {
    if (std::find(article.topics().begin(), article.topics().end(), topic) ==
        article.topics().end()) {
      article.add_topics(topic);
    }
  }
}

}  // namespace kabar::broker
