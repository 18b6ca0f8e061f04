#pragma once

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kabar/common/topic.hpp"

namespace kabar::broker {

/// Topics and patterns -> values, as a tree of segments with "*" and ">" branches (the shape of
/// NATS's sublist and uWebSockets' TopicTree). Matching a topic costs a walk of its segments plus
/// the wildcard branches on the way, independent of the number of subscriptions, then linear in
/// the values matched.
/// @note Not thread-safe: each shard owns one.
template <typename Value>
class SubscriptionIndex {
 public:
  /// Adds `value` under the valid topic-or-pattern `pattern`.
  void add(std::string_view pattern, Value value) {
    const auto segments = split_topic(pattern);
    Node* node = &root_;
    for (auto segment : *segments) node = &node->child(segment);
    node->values.push_back(std::move(value));
    ++size_;
  }

  /// Removes one `value` under `pattern`; false when it was not there.
  bool remove(std::string_view pattern, const Value& value) {
    const auto segments = split_topic(pattern);
    if (!segments) return false;
    if (!remove_at(root_, *segments, 0, value)) return false;
    --size_;
    return true;
  }

  /// Calls `visit(const Value&)` for every value whose pattern matches the valid topic `topic`.
  /// `visit` must not add or remove values.
  template <typename Visit>
  void match(std::string_view topic, Visit&& visit) const {
    match_spans(topic, [&](std::span<const Value> values) {
      for (const auto& value : values) visit(value);
    });
  }

  /// The same, a node's values at a time: `visit(std::span<const Value>)`, for a caller that
  /// looks ahead (Fanout prefetches the subscribers it is about to reach).
  template <typename VisitSpan>
  void match_spans(std::string_view topic, VisitSpan&& visit) const {
    const auto segments = split_topic(topic);
    if (segments) match_at(root_, *segments, 0, visit);
  }

  [[nodiscard]] std::size_t size() const { return size_; }

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
    std::unique_ptr<Node> any_one;   // "*"
    std::unique_ptr<Node> any_rest;  // ">": its values match one or more further segments
    std::vector<Value> values;

    Node& child(std::string_view segment) {
      auto& slot = segment == "*"   ? any_one
                   : segment == ">" ? any_rest
                                    : children.try_emplace(std::string(segment)).first->second;
      if (!slot) slot = std::make_unique<Node>();
      return *slot;
    }

    std::unique_ptr<Node>* find(std::string_view segment) {
      if (segment == "*") return &any_one;
      if (segment == ">") return &any_rest;
      const auto it = children.find(segment);
      return it == children.end() ? nullptr : &it->second;
    }

    [[nodiscard]] bool empty() const {
      return values.empty() && children.empty() && !any_one && !any_rest;
    }
  };

  static bool remove_at(Node& node, const TopicSegments& segments, std::size_t depth,
                        const Value& value) {
    if (depth == segments.count) {
      const auto it = std::find(node.values.begin(), node.values.end(), value);
      if (it == node.values.end()) return false;
      node.values.erase(it);
      return true;
    }
    auto* slot = node.find(segments.items[depth]);
    if (slot == nullptr || !*slot) return false;
    if (!remove_at(**slot, segments, depth + 1, value)) return false;
    if ((*slot)->empty()) {  // prune, so that a churn of topics leaves no garbage behind
      if (slot == &node.any_one || slot == &node.any_rest) {
        slot->reset();
      } else {
        node.children.erase(node.children.find(segments.items[depth]));
      }
    }
    return true;
  }

  template <typename Visit>
  static void match_at(const Node& node, const TopicSegments& segments, std::size_t depth,
                       Visit& visit) {
    if (depth == segments.count) {
      if (!node.values.empty()) visit(std::span<const Value>(node.values));
      return;
    }
    if (node.any_rest && !node.any_rest->values.empty()) {
      visit(std::span<const Value>(node.any_rest->values));
    }
    if (node.any_one) match_at(*node.any_one, segments, depth + 1, visit);
    if (const auto it = node.children.find(segments.items[depth]); it != node.children.end()) {
      match_at(*it->second, segments, depth + 1, visit);
    }
  }

  Node root_;
  std::size_t size_ = 0;
};

}  // namespace kabar::broker
