#pragma once

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace kabar::broker {

struct Config;

/// A token bucket: `rate` per second, bursts up to `rate` (at least one). Single-threaded.
class RateLimit {
 public:
  explicit RateLimit(double rate);
  /// Takes one token; false when there is none (always true when the rate is 0: unlimited).
  bool take();

 private:
  double rate_;
  double tokens_;
  std::chrono::steady_clock::time_point refilled_ = std::chrono::steady_clock::now();
};

/// Who may open a connection: the total and per-address connection limits and the rate of new
/// connections (a token bucket), checked as each TCP connection is accepted.
/// @note Thread-safe: admitted on the accepting thread, released on any shard's.
class Admission : public std::enable_shared_from_this<Admission> {
 public:
  explicit Admission(const Config& config);

  /// Held for as long as the connection lives; releases its place when destroyed.
  class Ticket {
   public:
    Ticket(std::shared_ptr<Admission> admission, boost::asio::ip::address address)
        : admission_(std::move(admission)), address_(std::move(address)) {}
    ~Ticket() { admission_->release(address_); }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

   private:
    std::shared_ptr<Admission> admission_;
    boost::asio::ip::address address_;
  };

  /// A ticket, or why the connection is refused.
  [[nodiscard]] std::shared_ptr<Ticket> admit(const boost::asio::ip::address& address,
                                              std::string& why);

 private:
  void release(const boost::asio::ip::address& address);

  const std::size_t max_connections_;
  const std::size_t max_per_address_;
  const double rate_;  // new connections per second; 0 = unlimited

  std::mutex mutex_;
  std::size_t connections_ = 0;                               // guarded by mutex_
  std::unordered_map<std::string, std::size_t> per_address_;  // guarded by mutex_
  RateLimit new_connections_;                                 // guarded by mutex_
};

}  // namespace kabar::broker
