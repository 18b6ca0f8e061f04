#pragma once

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
#include "kabar/common/close_code.hpp"
#include "net/admission.hpp"
#include "net/codec.hpp"
#include "net/frame_writer.hpp"
#include "net/recovery.hpp"
#include "net/send_queue.hpp"
#include "net/tcp_stream.hpp"

namespace kabar::broker {

/// One kabar WebSocket connection: its lifecycle and its requests. The jobs around it are
/// classes of their own: the wire format (Codec), what waits to be sent (SendQueue), the frames
/// of a direct write (FrameWriter), the replay of history (Recovery).
///
/// Lives on its shard's thread; its lifetime rides on its pending operations (every handler
/// holds shared_from_this()). Reads one message at a time. Writes when its shard's loop gives it
/// its write turn (Shard::schedule_write), with one write in flight, each gathering everything
/// queued since the last one: on plain TCP as frames laid out here and sent in one system call
/// (a message per reply, deliveries riding along; see TcpStream), over TLS as one Beast message
/// of any number of deliveries and at most one reply.
class WsSession final : public Subscriber,
                        public Connection,
                        public SendTarget,
                        public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(SessionStream&& stream, Shard& shard, BrokerContext& context, const Codec& codec,
            ConnectionLabel label, std::shared_ptr<const void> ticket, std::string upgrade_token);
  ~WsSession() override;

  /// Completes the upgrade that `request` asked for, then serves.
  void run(const boost::beast::http::request<boost::beast::http::string_body>& request);

  // Subscriber
  void enqueue(const std::shared_ptr<const DeliveryBatch>& batch, const DeliveryRef& ref) override;
  void end_of_batch() override;
  // Connection
  void shut_down() override;
  void write_turn() override;
  // SendTarget
  void on_sent(int result) override;

 private:
  // Lifecycle
  void on_accept(boost::beast::error_code ec);
  void await_connect();
  void expire_at(std::chrono::sys_seconds expires);
  void close(CloseCode code, std::string_view reason);
  void start_closing_handshake(CloseCode code, std::string_view reason);
  void end_connection(std::string_view why);

  // Reading
  void read_next();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void read_rest_of_large_message();
  void on_read_large(boost::beast::error_code ec, std::size_t bytes);
  void on_read_failed(boost::beast::error_code ec);
  bool on_message(std::string_view payload);

  // Requests
  void handle(v1::ClientMessage& message);
  void handle_connect(std::uint32_t id, const v1::Connect& request);
  void end_subscriptions_not_granted(v1::ConnectResult& result);
  // Whether the token's grants (publish or subscribe) cover `topic`; true when anonymous.
  [[nodiscard]] bool granted(const std::vector<std::string> jwt::Claims::*grants,
                             const std::string& topic) const;
  void handle_subscribe(std::uint32_t id, const v1::Subscribe& request);
  void handle_publish(std::uint32_t id, v1::Publish& request);
  void on_published(std::uint32_t id, PublishOutcome outcome);
  void reply_positions(std::uint32_t id, const std::vector<TopicState>& topics, bool recovered,
                       std::string not_recovered_reason = {});
  void send_reply(const v1::Reply& reply);
  void send_error(std::uint32_t id, v1::Error::Code code, std::string message);

  // Store reads and recovery
  void read_store(ReadRequest request, std::function<void(ReadResult)> done);
  void next_store_read();
  void read_next_page();
  void on_page(ReadResult page);
  void continue_replay();
  void next_recovery();

  // Writing
  void close_if_slow();
  void ask_write_turn(bool reply);
  void start_write();
  void send_frames();
  /// What follows a direct send that took `sent` bytes of the frames laid out.
  void after_send(std::size_t sent, boost::beast::error_code ec);
  void on_written(boost::beast::error_code ec, std::size_t bytes);

  // Touched for every delivery (Fanout::dispatch, enqueue): together, ahead of the kilobytes of
  // the Beast stream, so that a batch reaching thousands of sessions misses the cache on as few
  // lines of each as it can.
  Shard& shard_;
  const Codec& codec_;
  SendQueue queue_;
  bool closing_ = false;  // no more reads, writes or deliveries
  bool writing_ = false;  // a write is in flight
  // Where the session waits in its shard's write queues: a reply moves it up.
  enum class WriteTurn : std::uint8_t { kNone, kWithDeliveries, kWithReply };
  WriteTurn write_turn_asked_ = WriteTurn::kNone;
  // The other flags, beside these rather than each padded to 8 bytes: an idle connection's
  // memory is counted in bytes.
  bool open_ = false;                  // the WebSocket handshake completed
  bool connected_ = false;             // a Connect was accepted
  bool draining_ = false;              // shutting down: no more requests; close once written
  bool ended_ = false;                 // end_connection() ran
  bool publisher_ = false;             // has published: keeps large_read_
  bool replay_waiting_ = false;        // the next page waits for the send queue to drain
  bool store_read_in_flight_ = false;  // see waiting_reads_

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
  std::string client_name_;

  Recoveries recoveries_;
  // Store reads (positions, history pages) waiting for this connection's one read in flight.
  std::list<std::pair<ReadRequest, std::function<void(ReadResult)>>> waiting_reads_;
  static constexpr std::size_t kMaxWaitingReads = 1000;
  // What one connection's subscriptions may keep (patterns, filters, pending resume positions).
  static constexpr std::size_t kMaxSubscriptionBytes = 512 * 1024;
  static constexpr std::size_t kMaxResumePositions = 10'000;

  FrameWriter frames_;  // of the direct write in flight

  // A peer gets this long to complete a closing handshake; a slow consumer, whose socket is full,
  // never will, so past it the connection is dropped.
  static constexpr std::chrono::seconds kCloseDeadline{1};
  std::unique_ptr<boost::asio::steady_timer> close_deadline_;  // only while closing

  static constexpr std::string_view kDrainReason = "broker shutting down: reconnect now";
};

}  // namespace kabar::broker
