#include "admission.hpp"

#include <algorithm>

#include "kabar/broker/config.hpp"

namespace kabar::broker {

namespace {

// Refills `tokens` for the time since `refilled`, up to a burst of one second's worth.
void refill(double rate, double& tokens, std::chrono::steady_clock::time_point& refilled) {
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - refilled).count();
  tokens = std::min(rate, tokens + seconds * rate);
  refilled = now;
}

}  // namespace

bool RateLimit::take() {
  if (rate_ <= 0) return true;
  refill(rate_, tokens_, refilled_);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

Admission::Admission(const Config& config)
    : max_connections_(config.max_connections),
      max_per_address_(config.max_connections_per_address),
      rate_(config.connection_rate),
      tokens_(config.connection_rate) {}

std::shared_ptr<Admission::Ticket> Admission::admit(const boost::asio::ip::address& address,
                                                    std::string& why) {
  const auto key = address.to_string();
  {
    std::lock_guard lock(mutex_);
    if (rate_ > 0) {
      refill(rate_, tokens_, refilled_);
      if (tokens_ < 1) {
        why = "new connections over " + std::to_string(static_cast<long>(rate_)) + "/s";
        return nullptr;
      }
    }
    if (max_connections_ != 0 && connections_ >= max_connections_) {
      why = "at the limit of " + std::to_string(max_connections_) + " connections";
      return nullptr;
    }
    auto& mine = per_address_[key];
    if (max_per_address_ != 0 && mine >= max_per_address_) {
      why = key + " is at its limit of " + std::to_string(max_per_address_) + " connections";
      return nullptr;
    }
    if (rate_ > 0) tokens_ -= 1;
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
