#pragma once

#include <map>
#include <string>

#include "kabar/v1/kabar.pb.h"

namespace kabar::client {

/// Where one subscription stands in each topic it reads: the position of the last delivery
/// handed to the application, so that after a reconnect it resumes exactly there, with no gap
/// and no duplicate (Subscribe.since for a topic, Subscribe.resume for a pattern).
class ResumePositions {
 public:
  /// The application subscribed with `request`: what it has (since, resume) is where it stands.
  void asked(const v1::Subscribe& request);
  /// A delivery was handed over.
  void delivered(const v1::Delivery& delivery);
  /// The broker answered the subscription. Recovered, the replay that follows moves the
  /// positions; not recovered (or a plain subscribe), it starts at the topics' ends given.
  void answered(const v1::SubscribeResult& result);
  /// Fills `subscribe` (its topic set) to resume where the subscription stands: a topic with no
  /// position yet is read from its start.
  void resume(v1::Subscribe& subscribe) const;

  [[nodiscard]] const std::map<std::string, v1::Position>& by_topic() const { return positions_; }

 private:
  std::map<std::string, v1::Position> positions_;
};

}  // namespace kabar::client
