#pragma once

#include <sys/socket.h>
#include <sys/uio.h>
#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/send_ring.hpp"
#include "core/shard.hpp"
#include "kabar/broker/frames.hpp"
#include "kabar/common/close_code.hpp"
#include "net/admission.hpp"
#include "net/tcp_stream.hpp"

namespace kabar::broker {

/// One kabar.v1.proto WebSocket connection.
///
/// Lives on its shard's thread; its lifetime rides on its pending operations (every handler
/// holds shared_from_this()). Reads one message at a time; writes with one write in flight when
/// its shard's loop gives it its turn (Shard::schedule_write), each gathering everything queued
/// since the last one: on plain TCP as frames built here and sent in
/// one system call (a message per reply, deliveries riding along; see TcpStream), over TLS as
/// one Beast message of any number of deliveries and at most one reply.
class WsSession final : public Subscriber,
                        public Connection,
                        public SendTarget,
                        public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(SessionStream&& stream, Shard& shard, BrokerContext& context, ConnectionLabel label,
            std::shared_ptr<const void> ticket, std::string upgrade_token);
  ~WsSession() override;

  /// Completes the upgrade that `request` asked for, then serves.
  void run(boost::beast::http::request<boost::beast::http::string_body> request);

  void enqueue(const std::shared_ptr<const DeliveryBatch>& batch, const DeliveryRef& ref) override;
  void flush() override;  // deliveries
  void shut_down() override;
  void flush_writes() override;

 private:
  // Bytes to send, kept alive by their owner: a delivery batch or an encoded reply.
  struct Chunk {
    std::shared_ptr<const void> owner;
    const char* data = nullptr;
    std::size_t size = 0;
    bool is_reply = false;
  };

  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void read_rest_of_large_message();
  void on_read_large(boost::beast::error_code ec, std::size_t bytes);
  void on_read_failed(boost::beast::error_code ec);
  bool on_message(std::string_view payload);
  void handle(v1::ClientMessage& message);
  void schedule_write(bool reply);
  void handle_connect(std::uint32_t id, const v1::Connect& request);
  void await_connect();
  void expire_at(std::chrono::sys_seconds expires);
  void end_subscriptions_not_granted(v1::ConnectResult& result);
  // Whether the token's grants (publish or subscribe) cover `topic`; true when anonymous.
  [[nodiscard]] bool granted(const std::vector<std::string> jwt::Claims::*grants,
                             const std::string& topic) const;
  void handle_subscribe(std::uint32_t id, const v1::Subscribe& request);
  void handle_publish(std::uint32_t id, v1::Publish& request);
  void on_published(std::uint32_t id, PublishOutcome outcome);
  void reply_positions(std::uint32_t id, const std::vector<TopicState>& topics, bool recovered,
                       std::string not_recovered_reason = {});
  void read_history();
  void read_store(ReadRequest request, std::function<void(ReadResult)> done);
  void next_store_read();
  void on_history(ReadResult result);
  void continue_replay();
  void next_recovery();
  void send_reply(const v1::Reply& reply);
  void send_error(std::uint32_t id, v1::Error::Code code, std::string message);
  void push(Chunk chunk);
  void enqueue_copy(const char* data, std::size_t size);
  void account(std::int64_t delta);  // the shard's send-queue gauge
  void drop_queue();
  void check_queue_limit();
  static std::size_t message_end(const std::vector<Chunk>& chunks, std::size_t begin);
  void do_write();
  void write_frames();
  void on_sent(int result) override;
  /// What follows a send of write_iovecs_ that took `sent` bytes of them.
  void after_send(std::size_t sent, boost::beast::error_code ec);
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  void close(CloseCode code, std::string_view reason);
  void begin_close(CloseCode code, std::string_view reason);
  void on_close(boost::beast::error_code ec);
  void finish(std::string_view why);

  // Touched for every delivery (Fanout::dispatch, enqueue): together, ahead of the kilobytes of
  // the Beast stream, so that a batch reaching thousands of sessions misses the cache on as few
  // lines of each as it can.
  Shard& shard_;
  std::vector<Chunk> queue_;  // waiting for the next write
  // When queue_.back() is a run of deliveries from one batch: that batch and where the run ends.
  // A delivery continuing it is added without reading queue_'s buffer, a cache miss per session.
  const DeliveryBatch* run_batch_ = nullptr;
  const char* run_end_ = nullptr;
  // Bytes in queue_, waiting behind the write in flight: bounded by config.send_queue_bytes.
  // A reader that keeps up empties it every pass; one that does not lets it grow.
  std::size_t queued_bytes_ = 0;
  std::int64_t accounted_bytes_ = 0;  // this connection's share of the send-queue gauge
  bool closing_ = false;              // no more reads, writes or deliveries
  bool writing_ = false;
  // Where the session waits in its shard's write queues: a reply moves it up.
  enum class WriteScheduled : std::uint8_t { kNo, kWithDeliveries, kWithReply };
  WriteScheduled write_scheduled_ = WriteScheduled::kNo;

  boost::beast::websocket::stream<SessionStream> ws_;
  BrokerContext& context_;
  const ConnectionLabel label_;
  std::shared_ptr<const void> ticket_;  // the connection's place under the connection limits
  std::string upgrade_token_;           // a token given with the upgrade, for Connect
  std::optional<jwt::Claims> claims_;   // what the token grants; none: anonymous, all rights
  // Until Connect: the deadline for it; then the token's exp, while authenticated.
  std::unique_ptr<boost::asio::steady_timer> expiry_;
  RateLimit publish_rate_;
  // A message is read into small_read_, part of the session; one that does not fit goes on into
  // large_read_, allocated for it and given back after it (kept by a connection that has
  // published). A pending Beast read into a dynamic buffer holds a prepared 1.5 KiB: a fifth of
  // an idle connection's memory.
  static constexpr std::size_t kSmallReadBytes = 256;
  std::array<char, kSmallReadBytes> small_read_;
  boost::beast::flat_buffer large_read_;
  static constexpr std::size_t kKeptLargeReadBytes = 64 * 1024;
  bool publisher_ = false;  // has published: keeps large_read_
  std::string client_name_;

  // A subscription recovering from history: replayed a page at a time, one read in flight per
  // connection, so that a catch-up of any length needs memory for two pages only.
  struct Recovery {
    std::uint32_t request_id = 0;
    std::string pattern;
    v1::Filter filter;
    std::uint64_t subscription_id = 0;
    std::vector<v1::TopicPosition> from;  // advanced as pages are queued
    bool replied = false;
    std::size_t bytes = 0;  // of the resume positions asked for: counted until it ends
  };
  std::list<Recovery> recoveries_;  // a list: empty, it allocates nothing (a deque does)
  std::size_t recovery_bytes_ = 0;  // of recoveries_, against kMaxSubscriptionBytes
  // Store reads (positions, history pages) waiting for this connection's one read in flight.
  std::list<std::pair<ReadRequest, std::function<void(ReadResult)>>> waiting_reads_;
  bool store_read_in_flight_ = false;
  static constexpr std::size_t kMaxWaitingReads = 1000;
  // What one connection's subscriptions may keep (patterns, filters, pending resume positions).
  static constexpr std::size_t kMaxSubscriptionBytes = 512 * 1024;
  static constexpr std::size_t kMaxResumePositions = 10'000;
  bool replay_waiting_ = false;  // the next page waits for the send queue to drain
  static constexpr std::size_t kReplayPageBytes = 512 * 1024;

  // While a write waits on a full socket, a delivery that is under 1/kMaxPinRatio of its batch is
  // copied into copy_block_ instead of keeping the batch alive: what a stalled reader holds is
  // then about what it counts against --send-queue-bytes.
  static constexpr std::size_t kMaxPinRatio = 4;
  static constexpr std::size_t kCopyBlockBytes = 64 * 1024;
  std::shared_ptr<std::string> copy_block_;
  std::size_t copy_used_ = 0;

  std::vector<Chunk> in_flight_;  // owned by the write in flight
  std::vector<boost::asio::const_buffer> write_buffers_;
  std::vector<FrameHeader> frame_headers_;  // of the frames in write_iovecs_
  std::vector<iovec> write_iovecs_;         // what a direct write sends (write_frames)

  // A peer gets this long to complete a closing handshake; a slow consumer, whose socket is full,
  // never will, so past it the connection is dropped.
  static constexpr std::chrono::seconds kCloseDeadline{1};
  std::unique_ptr<boost::asio::steady_timer> close_deadline_;  // only while closing

  bool open_ = false;       // the WebSocket handshake completed
  bool connected_ = false;  // a Connect was accepted
  bool draining_ = false;   // shutting down: no more requests; close once the queue is written
  static constexpr std::string_view kDrainReason = "broker shutting down: reconnect now";
  bool finished_ = false;
};

}  // namespace kabar::broker
