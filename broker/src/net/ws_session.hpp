#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/send_ring.hpp"
#include "core/shard.hpp"
#include "core/timer_wheel.hpp"
#include "kabar/common/close_code.hpp"
#include "net/admission.hpp"
#include "net/codec.hpp"
#include "net/frame_reader.hpp"
#include "net/frame_writer.hpp"
#include "net/recovery.hpp"
#include "net/send_queue.hpp"
#include "net/tcp_stream.hpp"
#include "net/tls_socket.hpp"

namespace kabar::broker {

/// One kabar WebSocket connection: its lifecycle, its frames and its requests. The jobs around it
/// are classes of their own: the wire format (Codec), what waits to be sent (SendQueue), the
/// frames read (FrameReader) and written (FrameWriter), the replay of history (Recovery).
///
/// It speaks WebSocket itself, on a bare socket: an idle connection holds its socket, this object
/// and one pending wait for readability, no buffer and no timer. When the socket is readable, it
/// reads into its shard's buffer until the socket is empty and handles every message there in
/// place; only a frame split between reads is kept (FrameReader). Its deadlines (the wait for
/// Connect, idle pings, the token's expiry, the closing handshake) are one entry in its shard's
/// TimerWheel. Over TLS, the same frames go through the TLS stream, read into a buffer of the
/// connection's own (issue 20 goes on there).
///
/// Lives on its shard's thread; its lifetime rides on its pending operations (every handler
/// holds shared_from_this()). Writes when its shard's loop gives it its write turn
/// (Shard::schedule_write), with one write in flight, each gathering everything queued since the
/// last one as frames laid out here: on plain TCP in one system call, over TLS as one buffer.
class WsSession final : public Subscriber,
                        public Connection,
                        public SendTarget,
                        public TimerWheel::Entry,
                        public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(Shard& shard, BrokerContext& context, const Codec& codec, ConnectionLabel label,
            std::shared_ptr<const void> ticket, std::string upgrade_token);
  ~WsSession() override;

  /// Takes the connection over from `stream` (its socket and TLS session; the rest stays with
  /// the HTTP session), answers the upgrade that `request` asked for (HttpSession checked it),
  /// then serves. `early`: bytes the client sent after the request, read with it.
  void run(SessionStream& stream,
           const boost::beast::http::request<boost::beast::http::string_body>& request,
           std::string_view early);

  // Subscriber
  void enqueue(const std::shared_ptr<const DeliveryBatch>& batch, const DeliveryRef& ref) override;
  void end_of_batch() override;
  // Connection
  void shut_down() override;
  void write_turn() override;
  // SendTarget
  void on_sent(int result) override;

 private:
  using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp,
                                                  boost::asio::io_context::executor_type>;
  using Clock = TimerWheel::Clock;

  // Lifecycle
  void on_open();
  void on_deadline() override;
  void schedule_deadline();
  void close(CloseCode code, std::string_view reason);
  void start_closing_handshake(CloseCode code, std::string_view reason);
  void send_close_frame(std::uint16_t code, std::string_view reason);
  void on_peer_close(std::uint16_t code, std::string_view reason);
  void teardown();
  // Our close frame is queued and written.
  [[nodiscard]] bool close_written() const { return close_queued_ && !writing_ && queue_.empty(); }
  void end_connection(std::string_view why);
  void close_socket();

  // Reading
  void read_next();
  void on_readable(boost::beast::error_code ec);
  void fail(std::string_view why);
  // Parses and handles what a read brought.
  void consume(std::span<char> bytes);
  void on_read_failed(boost::beast::error_code ec);
  void on_message(std::string_view payload, bool text);
  void send_control(std::uint8_t frame_opcode, std::string_view payload);

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
  /// What follows a direct send that took `sent` bytes of the frames laid out.
  void after_send(std::size_t sent, boost::beast::error_code ec);
  void on_written(boost::beast::error_code ec, std::size_t bytes);

  [[nodiscard]] auto executor() { return shard_.io_context().get_executor(); }

  // Touched for every delivery (Fanout::dispatch, enqueue): together, first, so that a batch
  // reaching thousands of sessions misses the cache on as few lines of each as it can.
  Shard& shard_;
  const Codec& codec_;
  SendQueue queue_;
  bool closing_ = false;  // no more requests or deliveries: the closing handshake is under way
  bool writing_ = false;  // a write is in flight
  // Where the session waits in its shard's write queues: a reply moves it up.
  enum class WriteTurn : std::uint8_t { kNone, kWithDeliveries, kWithReply };
  WriteTurn write_turn_asked_ = WriteTurn::kNone;
  // The other flags, beside these rather than each padded to 8 bytes: an idle connection's
  // memory is counted in bytes.
  bool open_ = false;                  // the upgrade was answered
  bool connected_ = false;             // a Connect was accepted
  bool draining_ = false;              // shutting down: no more requests; close once written
  bool ended_ = false;                 // end_connection() ran
  bool publisher_ = false;             // has published: keeps the reader's buffers
  bool replay_waiting_ = false;        // the next page waits for the send queue to drain
  bool store_read_in_flight_ = false;  // see waiting_reads_
  bool ping_sent_ = false;             // since the peer was last heard
  bool close_queued_ = false;          // our close frame is queued or written
  bool close_received_ = false;        // the peer's close frame came: nothing more is parsed
  bool read_failed_ = false;           // a frame was malformed: nothing more is parsed
  bool torn_down_ = false;             // our side of the socket is shut
  bool socket_closed_ = false;

  Socket socket_;
  std::unique_ptr<TlsSocket> tls_;  // over TLS
  FrameReader reader_;
  Clock::time_point last_heard_;  // the peer's last bytes
  // Before Connect: when it must have come; while closing: when the socket is dropped.
  Clock::time_point deadline_;

  BrokerContext& context_;
  const ConnectionLabel label_;
  std::shared_ptr<const void> ticket_;   // the connection's place under the connection limits
  std::string upgrade_token_;            // a token given with the upgrade, for Connect
  std::unique_ptr<jwt::Claims> claims_;  // what the token grants; none: anonymous, all rights
  RateLimit publish_rate_;
  static constexpr std::size_t kKeptReadBytes = 64 * 1024;  // by a publisher, for its articles
  std::string client_name_;

  Recoveries recoveries_;
  // Store reads (positions, history pages) waiting for this connection's one read in flight.
  std::list<std::pair<ReadRequest, std::function<void(ReadResult)>>> waiting_reads_;
  static constexpr std::size_t kMaxWaitingReads = 1000;
  // What one connection's subscriptions may keep (patterns, filters, pending resume positions).
  static constexpr std::size_t kMaxSubscriptionBytes = 512 * 1024;
  static constexpr std::size_t kMaxResumePositions = 10'000;

  FrameWriter frames_;  // of the write in flight

  // A peer gets this long to complete a closing handshake; a slow consumer, whose socket is full,
  // never will, so past it the connection is dropped.
  static constexpr std::chrono::seconds kCloseDeadline{1};
  // Reads of the shard's buffer in one turn before others get theirs.
  static constexpr int kMaxReadsPerTurn = 16;

  static constexpr std::string_view kDrainReason = "broker shutting down: reconnect now";
};

}  // namespace kabar::broker
