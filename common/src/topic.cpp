#include "kabar/common/topic.hpp"

namespace kabar {
namespace {

bool is_lead_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_tail_char(char c) {
  return is_lead_char(c) || c == '_' || c == '-';
}

std::optional<std::string> segment_error(std::string_view segment, std::size_t index) {
  const auto where = "segment " + std::to_string(index + 1);
  if (segment.empty()) return where + " is empty";
  if (segment.size() > kMaxSegmentLength) {
    return where + " is longer than " + std::to_string(kMaxSegmentLength) + " characters";
  }
  if (!is_lead_char(segment.front())) {
    return where + " must start with a lowercase letter or digit";
  }
  for (char c : segment.substr(1)) {
    if (!is_tail_char(c)) {
      return where + " may only contain lowercase letters, digits, '_' and '-'";
    }
  }
  return std::nullopt;
}

std::optional<std::string> validate(std::string_view topic, bool allow_wildcards) {
  if (topic.empty()) return "topic is empty";
  if (topic.size() > kMaxTopicLength) return "topic is too long";
  const auto segments = split_topic(topic);
  if (!segments) {
    return "topic has more than " + std::to_string(kMaxTopicSegments) + " segments";
  }
  for (std::size_t i = 0; i < segments->count; ++i) {
    const auto segment = segments->items[i];
    if (segment == "*" || segment == ">") {
      if (!allow_wildcards) return "wildcards ('*', '>') are only allowed in subscriptions";
      if (segment == ">" && i + 1 != segments->count) return "'>' may only be the last segment";
      continue;
    }
    if (auto error = segment_error(segment, i)) return error;
  }
  return std::nullopt;
}

}  // namespace

std::optional<TopicSegments> split_topic(std::string_view topic) {
  TopicSegments segments;
  while (true) {
    if (segments.count == kMaxTopicSegments) return std::nullopt;
    const auto dot = topic.find('.');
    segments.items[segments.count++] = topic.substr(0, dot);
    if (dot == std::string_view::npos) return segments;
    topic.remove_prefix(dot + 1);
  }
}

std::optional<std::string> topic_error(std::string_view topic) {
  return validate(topic, false);
}

std::optional<std::string> pattern_error(std::string_view pattern) {
  return validate(pattern, true);
}

bool is_pattern(std::string_view pattern) {
  const auto segments = split_topic(pattern);
  if (!segments) return false;
  for (auto segment : *segments) {
    if (segment == "*" || segment == ">") return true;
  }
  return false;
}

bool topic_matches(std::string_view pattern, std::string_view topic) {
  const auto p = split_topic(pattern);
  const auto t = split_topic(topic);
  if (!p || !t) return false;
  for (std::size_t i = 0; i < p->count; ++i) {
    const auto segment = p->items[i];
    if (segment == ">") return t->count > i;
    if (i >= t->count) return false;
    if (segment != "*" && segment != t->items[i]) return false;
  }
  return p->count == t->count;
}

bool pattern_covers(std::string_view outer, std::string_view inner) {
  const auto outer_segments = split_topic(outer);
  const auto inner_segments = split_topic(inner);
  if (!outer_segments || !inner_segments) return false;
  const auto& o = *outer_segments;
  const auto& n = *inner_segments;
  std::size_t i = 0;
  for (; i < o.count; ++i) {
    if (o.items[i] == ">") return i < n.count;  // one or more segments, whatever they are
    if (i >= n.count) return false;
    if (n.items[i] == ">") return false;  // only > covers >
    if (o.items[i] == "*") continue;      // a literal or *
    if (n.items[i] != o.items[i]) return false;
  }
  return i == n.count;
}

}  // namespace kabar
