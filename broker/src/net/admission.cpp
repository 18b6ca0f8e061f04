#include "net/admission.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "kabar/broker/config.hpp"

namespace kabar::broker {

namespace {

// A burst of one second's worth, and never less than one token: a rate below 1/s (0.5: one
// every two seconds) must let that one through, not lock everyone out.
double burst(double rate) {
  return std::max(rate, 1.0);
}

}  // namespace

RateLimit::RateLimit(double rate) : rate_(rate), tokens_(burst(rate)) {}

bool RateLimit::take() {
  if (rate_ <= 0) return true;
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - refilled_).count();
  tokens_ = std::min(burst(rate_), tokens_ + seconds * rate_);
  refilled_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

Admission::Admission(const Config& config)
    : max_connections_(config.max_connections),
      max_per_address_(config.max_connections_per_address),
      rate_(config.connection_rate),
      new_connections_(config.connection_rate) {}

std::shared_ptr<Admission::Ticket> Admission::admit(const boost::asio::ip::address& address,
                                                    std::string& why) {
  const auto key = address.to_string();
  {
    std::lock_guard lock(mutex_);
    if (max_connections_ != 0 && connections_ >= max_connections_) {
      why = "at the limit of " + std::to_string(max_connections_) + " connections";
      return nullptr;
    }
    auto& mine = per_address_[key];
    if (max_per_address_ != 0 && mine >= max_per_address_) {
      why = key + " is at its limit of " + std::to_string(max_per_address_) + " connections";
      return nullptr;
    }
    // Last: a connection refused for another limit takes no token.
    if (!new_connections_.take()) {
      why = fmt::format("new connections over {}/s", rate_);
      return nullptr;
    }
    ++connections_;
    ++mine;
  }
  return std::make_shared<Ticket>(shared_from_this(), address);
}

void Admission::release(const boost::asio::ip::address& address) {
  std::lock_guard lock(mutex_);
  --connections_;
  const auto it = per_address_.find(address.to_string());
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

}  // namespace kabar::broker
