#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kabar/client/client.hpp"

namespace kabar::test {

/// An io_context on a thread of its own, for the client library's futures.
class IoRunner {
 public:
  IoRunner() : work_(boost::asio::make_work_guard(ioc_)), thread_([this] { ioc_.run(); }) {}
  ~IoRunner() {
    work_.reset();
    ioc_.stop();
    thread_.join();
  }
  boost::asio::io_context& context() { return ioc_; }

 private:
  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

/// Collects deliveries from the client's thread; tests wait on it with a deadline. Its handler
/// shares the collected state, so a client that outlives the Inbox (declared before it) still
/// delivers into live memory.
class Inbox {
 public:
  client::DeliveryHandler handler() {
    return [state = state_](const v1::Delivery& delivery) {
      std::lock_guard lock(state->mutex);
      state->items.push_back(delivery);
      state->cv.notify_all();
    };
  }

  /// True when at least `count` deliveries arrived within `timeout`.
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(state_->mutex);
    return state_->cv.wait_for(lock, timeout, [&] { return state_->items.size() >= count; });
  }

  /// True when a delivery of `topic` arrived within `timeout`.
  bool wait_for_topic(const std::string& topic,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(state_->mutex);
    return state_->cv.wait_for(lock, timeout, [&] {
      for (const auto& item : state_->items) {
        if (item.topic() == topic) return true;
      }
      return false;
    });
  }

  std::vector<v1::Delivery> items() {
    std::lock_guard lock(state_->mutex);
    return state_->items;
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<v1::Delivery> items;  // guarded by mutex
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

/// A connected client on its own I/O thread.
class Connected {
 public:
  explicit Connected(const std::string& url, std::string name = "test")
      : Connected(options(url, std::move(name))) {}
  explicit Connected(client::Options with) : client_(io_.context(), std::move(with)) {
    auto connected = client_.connect();
    if (connected.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      throw std::runtime_error("connect timed out");
    }
    connected.get();
  }
  ~Connected() {
    std::promise<void> closed;
    client_.close([&closed] { closed.set_value(); });
    closed.get_future().wait_for(std::chrono::seconds(5));
  }

  client::Client& operator*() { return client_; }
  client::Client* operator->() { return &client_; }

  /// Subscribes and waits for the broker's answer; throws when refused.
  v1::SubscribeResult subscribe(const std::string& topic, Inbox& inbox, v1::Filter filter = {}) {
    v1::Subscribe request;
    request.set_topic(topic);
    *request.mutable_filter() = std::move(filter);
    auto result = client_.subscribe(std::move(request), inbox.handler());
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      throw std::runtime_error("subscribe timed out");
    }
    return result.get();
  }

  /// Unsubscribes and waits for the broker's answer; throws when refused.
  void unsubscribe(const std::string& topic) {
    auto answered = std::make_shared<std::promise<client::Response>>();
    auto future = answered->get_future();
    client_.unsubscribe(
        topic, [answered](client::Response response) { answered->set_value(std::move(response)); });
    if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      throw std::runtime_error("unsubscribe timed out");
    }
    const auto response = future.get();
    if (!response.ok()) throw std::runtime_error("unsubscribe: " + response.error_text());
  }

  /// Publishes and waits for the acknowledgement; throws when refused.
  v1::PublishResult publish(v1::Article article) {
    auto result = client_.publish(std::move(article));
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      throw std::runtime_error("publish timed out");
    }
    return result.get();
  }

 private:
  static client::Options options(const std::string& url, std::string name) {
    client::Options o;
    o.url = url;
    o.client_name = std::move(name);
    return o;
  }

  IoRunner io_;
  client::Client client_;
};

/// A small valid article.
inline v1::Article article(const std::string& id, std::vector<std::string> topics,
                           std::uint32_t urgency = 0) {
  v1::Article a;
  a.set_id(id);
  a.set_headline("headline of " + id);
  a.set_urgency(urgency);
  for (auto& topic : topics) a.add_topics(std::move(topic));
  return a;
}

}  // namespace kabar::test
