#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kabar::broker {

/// An HTTP answer made off the session (the read paths build theirs on the store's or a
/// shard's thread): its status code, body, content type and headers of its own.
struct Answer {
  unsigned status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
};

/// A text/plain answer.
inline Answer plain_answer(unsigned status, std::string body) {
  Answer answer;
  answer.status = status;
  answer.body = std::move(body);
  return answer;
}

}  // namespace kabar::broker
