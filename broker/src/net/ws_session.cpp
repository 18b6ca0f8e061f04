#include "net/ws_session.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>

#include "base/log.hpp"
#include "kabar/common/article.hpp"
#include "kabar/common/log_safe.hpp"
#include "kabar/common/time.hpp"
#include "kabar/common/topic.hpp"
#include "kabar/version.hpp"
#include "net/post_back.hpp"
#include "net/publish_check.hpp"
#include "net/ws_handshake.hpp"

namespace kabar::broker {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {

// At most `size` bytes of `text`, cut before a UTF-8 sequence rather than inside one.
std::string_view utf8_prefix(std::string_view text, std::size_t size) {
  if (text.size() <= size) return text;
  while (size > 0 && (static_cast<unsigned char>(text[size]) & 0xc0U) == 0x80) --size;
  return text.substr(0, size);
}

}  // namespace

WsSession::WsSession(Shard& shard, BrokerContext& context, const Codec& codec,
                     ConnectionLabel label, std::shared_ptr<const void> ticket,
                     std::string upgrade_token)
    : shard_(shard),
      codec_(codec),
      queue_(context.config.send_queue_bytes, shard.counters().send_queue_bytes,
             codec.merges_messages()),
      socket_(shard.io_context()),
      reader_(context.config.max_message_bytes),
      context_(context),
      label_(std::move(label)),
      ticket_(std::move(ticket)),
      upgrade_token_(std::move(upgrade_token)),
      publish_rate_(context.config.publish_rate) {
  shard_.add(*this);
  // While it lives, the engines encode every batch to JSON as well (once per batch).
  if (codec_.encoding() == Codec::Encoding::kJson) context_.engine.demand().json_reader_joined();
}

WsSession::~WsSession() {
  shard_.fanout().remove(*this);
  shard_.remove(*this);
  if (codec_.encoding() == Codec::Encoding::kJson) context_.engine.demand().json_reader_left();
  if (open_) context_.metrics.connection_closed();
}

void WsSession::run(SessionStream& stream, const http::request<http::string_body>& request,
                    std::string_view early) {
  // The bare socket, without the HTTP layer's timer state (nor, over TLS, Asio's stream and its
  // buffers): the descriptor moves over, and the TLS session with it.
  std::string bytes(early);
  auto& tcp = stream.next_layer().socket();
  beast::error_code ec;
  const auto protocol = tcp.local_endpoint(ec).protocol();
  const auto fd = tcp.release(ec);
  if (!ec) socket_.assign(protocol, fd, ec);
  if (ec) return fail("could not take the socket: " + ec.message());
  if (stream.is_tls()) {
    std::string refusal;
    tls_ = TlsSocket::take_over(stream.tls().native_handle(), fd, bytes, refusal);
    if (!tls_) return fail(refusal);
  }
  last_heard_ = Clock::now();
  deadline_ = last_heard_ + context_.config.handshake_timeout;  // for the upgrade and Connect
  schedule_deadline();
  // The answer is the connection's first write; what the client sent with its request is read
  // meanwhile, its replies queued behind it.
  queue_.add_frame(std::make_shared<const std::string>(ws_handshake::response(
      request[http::field::sec_websocket_key], codec_.subprotocol(), kServerHeader)));
  start_write();
  if (!bytes.empty()) consume({bytes.data(), bytes.size()});
  read_next();
}

void WsSession::on_open() {
  open_ = true;
  context_.metrics.connection_opened();
  logging::info({"ws.open", label_.id, label_.remote}, "WebSocket open");
}

// One entry in the shard's wheel stands for every deadline the connection has: the earliest.
void WsSession::schedule_deadline() {
  if (socket_closed_) return TimerWheel::cancel(*this);
  auto due = Clock::time_point::max();
  if (closing_ || !connected_) due = deadline_;
  if (!closing_) {
    const auto idle = context_.config.idle_timeout;
    due = std::min(due, last_heard_ + (ping_sent_ ? idle : idle / 2));
    if (claims_) {
      // Counted in whole seconds (an exp may be years ahead, past what nanoseconds count), a day
      // at a time.
      constexpr std::chrono::seconds kMaxWait = std::chrono::hours(24);
      const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
      const auto left = claims_->expires + context_.config.auth.leeway - now;
      due = std::min(due, Clock::now() + std::clamp(left, std::chrono::seconds(0), kMaxWait));
    }
  }
  shard_.timers().schedule(*this, due);
}

void WsSession::on_deadline() {
  const auto self = shared_from_this();
  const auto now = Clock::now();
  if (closing_) {
    if (now < deadline_) return schedule_deadline();
    // A slow consumer's full socket, or a peer that never answers the close: dropped.
    return fail("the closing handshake did not complete within 1 s");
  }
  if (!connected_ && now >= deadline_) {
    logging::info({"ws.connect_timeout", label_.id, label_.remote},
                  "sent no accepted Connect within {} ms",
                  context_.config.handshake_timeout.count());
    return close(CloseCode::kPolicyViolation, "no Connect within the handshake timeout");
  }
  if (claims_ &&
      std::chrono::system_clock::now() >= claims_->expires + context_.config.auth.leeway) {
    return close(CloseCode::kTokenExpired,
                 "token expired: send Connect with a fresh token before exp");
  }
  const auto idle = context_.config.idle_timeout;
  if (now - last_heard_ >= idle) {
    return fail(fmt::format("nothing heard from the peer in {} ms: dropped", idle.count()));
  }
  if (now - last_heard_ >= idle / 2 && !ping_sent_ && open_) {
    ping_sent_ = true;
    send_control(opcode::kPing, {});
  }
  schedule_deadline();
}

void WsSession::read_next() {
  if (socket_closed_) return;
  // Readable again: read then. Until then the connection holds no buffer.
  socket_.async_wait(net::socket_base::wait_read,
                     [self = shared_from_this()](beast::error_code ec) { self->on_readable(ec); });
}

// Reads until the socket is empty, into the shard's buffer, handling each read at once. The
// socket's readiness is edge-triggered: waiting again before it is empty could wait forever.
void WsSession::on_readable(beast::error_code ec) {
  if (ec) return on_read_failed(ec);
  const auto buffer = shard_.read_buffer();
  for (int reads = 0; reads < kMaxReadsPerTurn; ++reads) {
    if (socket_closed_) return;
    if (tls_) {
      const auto [got, status] = tls_->read(buffer);
      switch (status) {
        case TlsSocket::Status::kDone:
          consume(buffer.first(got));
          continue;
        case TlsSocket::Status::kWantRead:
          return read_next();
        case TlsSocket::Status::kWantWrite:  // TLS's own business (a key update): then read on
          return socket_.async_wait(
              net::socket_base::wait_write,
              [self = shared_from_this()](beast::error_code error) { self->on_readable(error); });
        case TlsSocket::Status::kClosed:
          return on_read_failed(net::error::eof);
        case TlsSocket::Status::kFailed:
          return fail(tls_->error());
      }
    }
    const auto got = ::recv(socket_.native_handle(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (got > 0) {
      consume(buffer.first(static_cast<std::size_t>(got)));
      continue;
    }
    if (got == 0) return on_read_failed(net::error::eof);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return read_next();
    if (errno != EINTR) return on_read_failed({errno, boost::system::system_category()});
  }
  // Still more: the other connections' turn first.
  net::post(executor(), [self = shared_from_this()] { self->on_readable({}); });
}

void WsSession::consume(std::span<char> bytes) {
  last_heard_ = Clock::now();
  ping_sent_ = false;
  shard_.counters().bytes_in.fetch_add(bytes.size(), std::memory_order_relaxed);
  if (read_failed_ || close_received_) return;  // only the peer's end is awaited
  reader_.feed(bytes);
  while (true) {
    const auto event = reader_.next();
    switch (event.kind) {
      case FrameReader::Event::Kind::kNeedMore:
        reader_.trim(publisher_ ? kKeptReadBytes : 0);
        return;
      case FrameReader::Event::Kind::kMessage:
        on_message(event.payload, event.text);
        break;
      case FrameReader::Event::Kind::kPing:
        if (!closing_) send_control(opcode::kPong, event.payload);
        break;
      case FrameReader::Event::Kind::kPong:
        break;
      case FrameReader::Event::Kind::kClose:
        return on_peer_close(event.code, event.payload);
      case FrameReader::Event::Kind::kError: {
        read_failed_ = true;
        const auto code = static_cast<CloseCode>(event.code);
        if (code == CloseCode::kMessageTooBig) {
          logging::warn({"ws.message_too_big", label_.id, label_.remote},
                        "sent a message over {} bytes: closed with 1009",
                        context_.config.max_message_bytes);
          context_.metrics.rejected(Rejected::kMessageTooBig);
        }
        if (closing_) {  // our close frame is out, or the end of its write tears down
          if (close_written()) teardown();
          return;
        }
        closing_ = true;
        start_closing_handshake(code, event.payload);
        return;
      }
    }
  }
}

void WsSession::on_read_failed(beast::error_code ec) {
  if (socket_closed_) return;
  fail(ec == net::error::eof ? "the peer closed the connection without a closing handshake"
                             : ec.message());
}

// The end of the connection, for `why` if it was not over already; the socket closes now.
void WsSession::fail(std::string_view why) {
  end_connection(why);
  close_socket();
}

// A whole message, valid until this returns.
void WsSession::on_message(std::string_view payload, bool text) {
  if (closing_) return;
  // On the drain nothing read is handled any more: a publish read now would reach the store after
  // its final flush, be stored, and its acknowledgement be cut off by the close. Not handled, it
  // was neither stored nor acknowledged, and the publisher sends it again after reconnecting.
  // Reading goes on: the pending read keeps the session until the drain closes it with 4002.
  // Without it the session was released once its last write ended, its socket closed under a
  // client still sending, and the reset could cost the client acknowledgements already written.
  if (draining_ || shard_.stopping()) return;
  v1::ClientMessage message;
  if (auto error = codec_.decode(payload, !text, message)) {
    context_.metrics.rejected(error->rejected);
    return close(error->close, error->reason);
  }
  handle(message);
}

void WsSession::send_control(std::uint8_t frame_opcode, std::string_view payload) {
  payload = payload.substr(0, opcode::kMaxControlPayload);
  FrameHeader header{};
  const auto header_size = write_frame_header(header, payload.size(), frame_opcode);
  auto frame = std::make_shared<std::string>(header.data(), header_size);
  frame->append(payload);
  queue_.add_frame(std::move(frame));
  close_if_slow();  // pongs count against the limit: a ping flood that reads nothing is closed
  ask_write_turn(true);
}

void WsSession::handle(v1::ClientMessage& message) {
  const auto id = message.id();
  switch (message.request_case()) {
    case v1::ClientMessage::REQUEST_NOT_SET:
      return send_error(id, v1::Error::BAD_REQUEST,
                        "ClientMessage has no request: set one of connect, subscribe, "
                        "unsubscribe, publish or ping");
    case v1::ClientMessage::kConnect:
      return handle_connect(id, message.connect());
    default:
      break;
  }
  if (!connected_) {
    return send_error(id, v1::Error::UNAUTHORIZED,
                      "the first request on a connection must be Connect");
  }
  switch (message.request_case()) {
    case v1::ClientMessage::kSubscribe:
      return handle_subscribe(id, message.subscribe());
    case v1::ClientMessage::kUnsubscribe: {
      if (!shard_.fanout().unsubscribe(*this, message.unsubscribe().topic())) {
        return send_error(id, v1::Error::NOT_FOUND,
                          "not subscribed to '" + message.unsubscribe().topic().substr(0, 600) +
                              "' (unsubscribe names exactly the string subscribed)");
      }
      v1::Reply reply;
      reply.set_id(id);
      reply.mutable_unsubscribe();
      return send_reply(reply);
    }
    case v1::ClientMessage::kPublish:
      return handle_publish(id, *message.mutable_publish());
    case v1::ClientMessage::kPing: {
      v1::Reply reply;
      reply.set_id(id);
      *reply.mutable_pong()->mutable_broker_time() = current_timestamp();
      return send_reply(reply);
    }
    default:
      return;  // handled above
  }
}

// Connect: once, or again with a fresh token before the current one expires.
void WsSession::handle_connect(std::uint32_t id, const v1::Connect& request) {
  const bool refresh = connected_;
  v1::Reply reply;
  if (refresh && (request.token().empty() || context_.verifier == nullptr)) {
    return send_error(id, v1::Error::BAD_REQUEST,
                      "already connected: send Connect again only with a fresh token");
  }
  const auto& token = request.token().empty() ? upgrade_token_ : request.token();
  if (context_.verifier != nullptr && !token.empty()) {
    auto verified = context_.verifier->verify(token);
    if (const auto* refusal = std::get_if<jwt::Refusal>(&verified)) {
      return send_error(id, v1::Error::UNAUTHORIZED, jwt::describe(*refusal));
    }
    claims_ = std::make_unique<jwt::Claims>(std::move(std::get<jwt::Claims>(verified)));
    schedule_deadline();  // the token's expiry
    if (refresh) end_subscriptions_not_granted(*reply.mutable_connect());
  } else if (!context_.anonymous_allowed) {
    return send_error(id, v1::Error::UNAUTHORIZED,
                      jwt::describe({"token_required",
                                     "this broker needs a JWT in Connect.token (or Authorization: "
                                     "Bearer at the upgrade)"}));
  }
  connected_ = true;
  upgrade_token_.clear();
  reply.set_id(id);
  if (!refresh) client_name_ = request.client_name().substr(0, 100);
  logging::info({"ws.connected", label_.id, label_.remote}, "{} as '{}'{}",
                refresh ? "refreshed its token" : "connected", log_safe(client_name_),
                claims_ ? " (sub " + log_safe(claims_->subject) + ")" : std::string());
  auto* result = reply.mutable_connect();
  result->set_session_id(std::to_string(label_.id));
  result->set_broker_version(std::string(kVersion));
  result->set_max_message_bytes(static_cast<std::uint32_t>(context_.config.max_message_bytes));
  send_reply(reply);
}

// A token refreshed with fewer grants ends the subscriptions it no longer covers, each named in
// the Connect reply: a reader must not go on receiving what its new token does not allow.
void WsSession::end_subscriptions_not_granted(v1::ConnectResult& result) {
  for (const auto& pattern : shard_.fanout().patterns(*this)) {
    if (granted(&jwt::Claims::subscribe, pattern)) continue;
    static_cast<void>(shard_.fanout().unsubscribe(*this, pattern));
    auto* ended = result.add_ended_subscriptions();
    ended->set_code(v1::Error::FORBIDDEN);
    ended->set_message("subscription to '" + pattern +
                       "' ended: the refreshed token does not grant it");
    logging::info({"ws.subscription_revoked", label_.id, label_.remote},
                  "subscription to '{}' ended: the refreshed token does not grant it",
                  log_safe(pattern));
  }
}

bool WsSession::granted(const std::vector<std::string> jwt::Claims::*grants,
                        const std::string& topic) const {
  return !claims_ || jwt::granted((*claims_).*grants, topic);
}

void WsSession::handle_subscribe(std::uint32_t id, const v1::Subscribe& request) {
  const auto& topic = request.topic();
  if (auto error = pattern_error(topic)) {
    return send_error(id, v1::Error::BAD_REQUEST,
                      "subscribe.topic '" + topic.substr(0, 600) + "': " + *error);
  }
  if (auto error = filter_error(request.filter())) {
    return send_error(id, v1::Error::BAD_REQUEST, "subscribe." + *error);
  }
  if (!granted(&jwt::Claims::subscribe, topic)) {
    return send_error(id, v1::Error::FORBIDDEN,
                      "the token does not grant subscribing to '" + topic + "'");
  }
  if (request.has_since() && request.has_resume()) {
    return send_error(id, v1::Error::BAD_REQUEST,
                      "set subscribe.since or subscribe.resume, not both");
  }
  if (request.has_since() && is_pattern(topic)) {
    return send_error(id, v1::Error::BAD_REQUEST,
                      "subscribe.since needs a plain topic; to recover a pattern, send "
                      "subscribe.resume with the last position seen in each topic");
  }
  if (static_cast<std::size_t>(request.resume().positions_size()) > kMaxResumePositions) {
    return send_error(
        id, v1::Error::BAD_REQUEST,
        "subscribe.resume lists more than " + std::to_string(kMaxResumePositions) + " positions");
  }
  for (const auto& position : request.resume().positions()) {
    if (auto error = topic_error(position.topic())) {
      return send_error(
          id, v1::Error::BAD_REQUEST,
          "subscribe.resume topic '" + position.topic().substr(0, 600) + "': " + *error);
    }
  }
  if (waiting_reads_.size() >= kMaxWaitingReads) {
    return send_error(id, v1::Error::RATE_LIMITED,
                      "this connection has " + std::to_string(kMaxWaitingReads) +
                          " subscribes waiting for the store: wait for their answers");
  }
  const auto limit = context_.config.max_subscriptions;
  if (limit != 0 && !shard_.fanout().has_subscription(*this, topic) &&
      shard_.fanout().subscription_count(*this) >= limit) {
    return send_error(id, v1::Error::RATE_LIMITED,
                      "this connection has " + std::to_string(limit) +
                          " subscriptions, the limit: unsubscribe from one first");
  }
  // What the subscription and its recovery keep, against the connection's budget: a count limit
  // alone let one connection hold a thousand filters of 240 000 languages each.
  const auto cost = Fanout::cost(topic, request.filter()) + request.resume().ByteSizeLong();
  const auto held = shard_.fanout().subscription_bytes(*this, topic) + recoveries_.bytes();
  if (held + cost > kMaxSubscriptionBytes) {
    return send_error(id, v1::Error::TOO_LARGE,
                      "this connection's subscriptions would keep " + std::to_string(held + cost) +
                          " bytes of patterns, filters and "
                          "positions, over its budget of " +
                          std::to_string(kMaxSubscriptionBytes) + ": unsubscribe first");
  }
  if (!request.has_since() && !request.has_resume()) {
    shard_.fanout().subscribe(*this, topic, request.filter());
    // Only the positions: no deliveries.
    return read_store(
        {.pattern = topic, .from = {}, .check_from = false, .max_bytes = 0, .max_count = 0},
        [this, id](const ReadResult& result) { reply_positions(id, result.topics, false); });
  }

  Recovery recovery{.request_id = id,
                    .pattern = topic,
                    .filter = request.filter(),
                    .subscription_id = 0,  // once subscribed, below
                    .from = {},
                    .replied = false,
                    .bytes = request.resume().ByteSizeLong()};
  if (request.has_since()) {
    auto& from = recovery.from.emplace_back();
    from.set_topic(topic);
    *from.mutable_position() = request.since();
  } else {
    recovery.from.assign(request.resume().positions().begin(), request.resume().positions().end());
  }
  recovery.subscription_id = shard_.fanout().subscribe(*this, topic, request.filter(), true);
  if (recoveries_.add(std::move(recovery))) read_next_page();
}

void WsSession::reply_positions(std::uint32_t id, const std::vector<TopicState>& topics,
                                bool recovered, std::string not_recovered_reason) {
  v1::Reply reply;
  reply.set_id(id);
  auto* result = reply.mutable_subscribe();
  for (const auto& topic : topics) {
    auto* position = result->add_positions();
    position->set_topic(topic.topic);
    position->mutable_position()->set_offset(topic.last_offset);
    position->mutable_position()->set_epoch(topic.epoch);
  }
  result->set_recovered(recovered);
  result->set_not_recovered_reason(std::move(not_recovered_reason));
  send_reply(reply);
}

void WsSession::read_next_page() {
  read_store(recoveries_.front().next_page(),
             [this](ReadResult page) { on_page(std::move(page)); });
}

// The store's reader is shared by every connection and serves reads in the order asked: one read
// in flight per connection, the rest waiting here, so that a client pipelining a thousand
// subscribes takes its turn like everyone else instead of queueing a thousand reads ahead of them.
void WsSession::read_store(ReadRequest request, std::function<void(ReadResult)> done) {
  waiting_reads_.emplace_back(std::move(request), std::move(done));
  next_store_read();
}

void WsSession::next_store_read() {
  if (store_read_in_flight_ || waiting_reads_.empty()) return;
  store_read_in_flight_ = true;
  auto [request, done] = std::move(waiting_reads_.front());
  waiting_reads_.pop_front();
  context_.engine.read(std::move(request),
                       post_back(executor(), shared_from_this(),
                                 [done = std::move(done)](WsSession& self, ReadResult result) {
                                   self.store_read_in_flight_ = false;
                                   done(std::move(result));
                                   self.next_store_read();
                                 }));
}

void WsSession::on_page(ReadResult page) {
  if (closing_ || draining_ || recoveries_.empty()) return;
  auto& recovery = recoveries_.front();
  auto* catchup = shard_.fanout().catchup(*this, recovery.pattern, recovery.subscription_id);
  if (catchup == nullptr) {  // unsubscribed, or subscribed again, while recovering
    if (!recovery.replied) {
      send_error(recovery.request_id, v1::Error::UNAVAILABLE,
                 "subscription to '" + recovery.pattern + "' replaced before it recovered");
    }
    return next_recovery();
  }
  if (page.not_recoverable) {
    if (recovery.replied) {
      return close(CloseCode::kRecoveryLost,
                   "recovery lost its place: " + page.not_recoverable->substr(0, 80));
    }
    // No partial replay: live from here, nothing at or before the positions given.
    logging::info({"ws.recovery_failed", label_.id, label_.remote}, "cannot recover '{}': {}",
                  recovery.pattern,
                  log_safe(*page.not_recoverable));  // names the client's epoch
    Recovery::give_up(page, *catchup);
    reply_positions(recovery.request_id, page.topics, false, *page.not_recoverable);
    return next_recovery();
  }
  if (!recovery.replied) {
    recovery.replied = true;
    reply_positions(recovery.request_id, page.topics, true);
    recovery.start(*catchup);
  }
  const bool live = recovery.replay(page, *catchup,
                                    [this](const std::shared_ptr<const DeliveryBatch>& batch,
                                           const DeliveryRef& ref) { enqueue(batch, ref); });
  end_of_batch();
  if (live) return next_recovery();
  continue_replay();
}

// The next page is read once this one is on its way out: at most two pages in memory.
void WsSession::continue_replay() {
  if (queue_.waiting_bytes() >= Recovery::kPageBytes) {
    replay_waiting_ = true;
    return;
  }
  replay_waiting_ = false;
  read_next_page();
}

void WsSession::next_recovery() {
  if (recoveries_.next()) read_next_page();
}

void WsSession::handle_publish(std::uint32_t id, v1::Publish& request) {
  publisher_ = true;
  if (!request.has_article()) {
    return send_error(id, v1::Error::BAD_REQUEST, "publish.article is required");
  }
  if (!publish_rate_.take()) {
    auto refusal = over_publish_rate(context_.config.publish_rate);
    return send_error(id, refusal.code, std::move(refusal.message));
  }
  v1::Article article = std::move(*request.mutable_article());
  if (auto rejection = check_publish(article, shard_.routes(), context_.config.max_article_bytes,
                                     claims_ ? &*claims_ : nullptr)) {
    return send_error(id, rejection->code, std::move(rejection->message));
  }
  // Handed to the engine with the rest of this pass's publishes (Shard::run, Shard::publish).
  shard_.publish(context_.engine, {.article = std::move(article),
                                   .accepted_at = current_timestamp(),
                                   .done = post_back(executor(), shared_from_this(),
                                                     [id](WsSession& self, PublishOutcome outcome) {
                                                       self.on_published(id, std::move(outcome));
                                                     })});
}

void WsSession::on_published(std::uint32_t id, PublishOutcome outcome) {
  if (outcome.rejection) {
    return send_error(id, outcome.rejection->code, std::move(outcome.rejection->message));
  }
  context_.metrics.published();
  v1::Reply reply;
  reply.set_id(id);
  *reply.mutable_publish() = std::move(outcome.result);
  send_reply(reply);
}

void WsSession::send_error(std::uint32_t id, v1::Error::Code code, std::string message) {
  logging::info({"ws.request_refused", label_.id, label_.remote}, "request {} refused: {}", id,
                log_safe(message));
  context_.metrics.rejected(Metrics::rejected_for(code));
  v1::Reply reply;
  reply.set_id(id);
  reply.mutable_error()->set_code(code);
  reply.mutable_error()->set_message(std::move(message));
  send_reply(reply);
}

void WsSession::send_reply(const v1::Reply& reply) {
  if (closing_) return;
  queue_.add_reply(std::make_shared<const std::string>(codec_.encode(reply)));
  close_if_slow();
  ask_write_turn(true);
}

void WsSession::enqueue(const std::shared_ptr<const DeliveryBatch>& batch, const DeliveryRef& ref) {
  if (closing_) return;
  // While a write waits on a full socket, small deliveries are copied rather than pin the batch.
  if (const auto bytes = codec_.delivery(*batch, ref); !bytes.empty()) [[likely]] {
    queue_.add_delivery(batch, bytes, writing_);
  } else {  // a batch built before this connection's format was wanted
    queue_.add_own_delivery(
        std::make_shared<const std::string>(codec_.encode_delivery(*batch, ref)));
  }
  close_if_slow();
}

void WsSession::close_if_slow() {
  if (!queue_.over_limit() || closing_) return;
  // Called from inside Fanout::dispatch, which must not be re-entered: close from a fresh handler.
  closing_ = true;
  deadline_ = Clock::now() + kCloseDeadline;
  context_.metrics.slow_consumer();
  logging::warn({"ws.slow_consumer", label_.id, label_.remote},
                "is a slow consumer: {} bytes queued, limit {}: closing with 4001",
                queue_.waiting_bytes(), context_.config.send_queue_bytes);
  queue_.drop();
  net::post(executor(), [self = shared_from_this()] {
    self->start_closing_handshake(CloseCode::kSlowConsumer,
                                  "slow consumer: send queue over its limit");
  });
}

void WsSession::end_of_batch() {
  ask_write_turn(false);
}

// Writes wait for the session's turn in its shard's loop, so that everything queued meanwhile
// goes out in one write; a reply (an acknowledgement) is written at the end of the next pass.
void WsSession::ask_write_turn(bool reply) {
  if (writing_ || socket_closed_ || queue_.empty()) return;
  const auto wanted = reply ? WriteTurn::kWithReply : WriteTurn::kWithDeliveries;
  if (write_turn_asked_ >= wanted) return;
  // Moved up from the deliveries' queue: the entry left there finds nothing, or what came since.
  write_turn_asked_ = wanted;
  shard_.schedule_write(shared_from_this(), reply);
}

void WsSession::write_turn() {
  write_turn_asked_ = WriteTurn::kNone;
  if (!writing_ && !socket_closed_ && !queue_.empty()) start_write();
}

// Everything queued, a frame per message, in one system call when the socket takes it (it nearly
// always does), through the shard's io_uring when it has one. Over TLS the frames are copied end
// to end and encrypted in one go (records of 16 KiB, not one per message), then sent the same way.
void WsSession::start_write() {
  const auto& chunks = queue_.begin_write(false);
  if (replay_waiting_) continue_replay();
  writing_ = true;
  auto message = frames_.lay_out(chunks, codec_.text(), codec_.merges_messages());
  auto* ring = shard_.sends();
  if (tls_) {
    auto& plain = shard_.write_buffer();
    frames_.copy_to(plain);
    auto& arena = shard_.send_arena();
    const auto room = arena.reserve(TlsSocket::encrypted_size_bound(plain.size()));
    const auto size = tls_->encrypt(plain, room);
    arena.commit(size);
    if (size == 0) {
      writing_ = false;
      queue_.end_write();
      return fail("write failed: " + tls_->error());
    }
    message = frames_.lay_out_bytes({room.data(), size});
  }
  if (ring != nullptr && ring->add(socket_.native_handle(), message, shared_from_this())) return;
  const auto sent = ::sendmsg(socket_.native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent >= 0) return after_send(static_cast<std::size_t>(sent), {});
  beast::error_code ec;
  if (errno != EAGAIN && errno != EINTR) ec.assign(errno, boost::system::system_category());
  after_send(0, ec);
}

void WsSession::on_sent(int result) {
  beast::error_code ec;
  if (result < 0 && result != -EAGAIN) ec.assign(-result, boost::system::system_category());
  after_send(result < 0 ? 0 : static_cast<std::size_t>(result), ec);
}

void WsSession::after_send(std::size_t sent, beast::error_code ec) {
  if (ec) {  // reported from a handler of its own, like any failed write
    return net::post(executor(),
                     [self = shared_from_this(), ec, sent] { self->on_written(ec, sent); });
  }
  if (sent == frames_.total()) return on_written({}, sent);
  // The socket's buffer is full: the rest when it drains. Encrypted bytes are the shard's only
  // until the pass ends: the connection keeps a copy of what is left.
  if (tls_) {
    const auto& rest = frames_.rest(sent).front();
    tls_->rest.assign(static_cast<const char*>(rest.data()), rest.size());
    return net::async_write(
        socket_, net::buffer(tls_->rest),
        [self = shared_from_this(), sent](beast::error_code error, std::size_t bytes) {
          std::string().swap(self->tls_->rest);  // idle: nothing kept
          self->on_written(error, sent + bytes);
        });
  }
  net::async_write(socket_, frames_.rest(sent),
                   [self = shared_from_this(), sent](beast::error_code error, std::size_t bytes) {
                     self->on_written(error, sent + bytes);
                   });
}

void WsSession::on_written(beast::error_code ec, std::size_t bytes) {
  writing_ = false;
  shard_.counters().bytes_out.fetch_add(bytes, std::memory_order_relaxed);
  queue_.end_write();
  if (ec) {
    return fail(open_ ? "write failed: " + ec.message()
                      : "WebSocket handshake failed: " + ec.message());
  }
  if (!open_) on_open();                  // the 101 is out
  if (close_queued_ && queue_.empty()) {  // our close frame is out
    if (close_received_ || read_failed_) teardown();
    return;
  }
  // What queued during this write: a reply goes out in the next pass, deliveries wait for their
  // turn like everyone's. Chained at once, a connection whose writes go asynchronous (a full
  // socket) would be written every time its socket drains while the others wait their turn.
  if (!queue_.empty()) return ask_write_turn(closing_ || queue_.has_reply());
  if (draining_) close(CloseCode::kShuttingDown, kDrainReason);
}

void WsSession::shut_down() {
  if (!open_) return fail("broker shutting down");  // still in the handshake: no goodbye
  // Drain: no new requests or deliveries; what is queued (acknowledgements of publishes already
  // committed among it) goes out first, then 4002 tells the client to reconnect now.
  shard_.fanout().remove(*this);
  draining_ = true;
  if (!writing_ && queue_.empty()) close(CloseCode::kShuttingDown, kDrainReason);
}

void WsSession::close(CloseCode code, std::string_view reason) {
  if (closing_) return;
  closing_ = true;
  start_closing_handshake(code, reason);
}

// The close frame goes after the write in flight, in place of everything still waiting; the peer
// answers with its own (or its end of the connection), within kCloseDeadline.
void WsSession::start_closing_handshake(CloseCode code, std::string_view reason) {
  if (close_queued_ || socket_closed_) return;
  shard_.fanout().remove(*this);
  queue_.drop();
  logging::info({"ws.closing", label_.id, label_.remote}, "closing: {} ({})",
                static_cast<int>(code), reason);
  send_close_frame(static_cast<std::uint16_t>(code), reason);
  deadline_ = Clock::now() + kCloseDeadline;
  schedule_deadline();
}

void WsSession::send_close_frame(std::uint16_t code, std::string_view reason) {
  constexpr std::uint16_t kNoCode = 1005;  // none given: the close frame has no payload
  std::string payload;
  if (code != kNoCode) {
    payload.push_back(static_cast<char>(code >> 8U));
    payload.push_back(static_cast<char>(code & 0xffU));
    payload.append(utf8_prefix(reason, opcode::kMaxControlPayload - 2));
  }
  close_queued_ = true;
  send_control(opcode::kClose, payload);
}

void WsSession::on_peer_close(std::uint16_t code, std::string_view reason) {
  close_received_ = true;
  if (closing_) {  // the answer to ours, or a close crossing it
    if (!ended_) end_connection("closed");
    if (close_written()) teardown();
    return;  // else once ours is written
  }
  closing_ = true;
  end_connection(
      fmt::format("closed by peer ({}{}{})", code, reason.empty() ? "" : " ", log_safe(reason)));
  send_close_frame(code, {});  // the echo (RFC 6455 section 5.5.1)
  deadline_ = Clock::now() + kCloseDeadline;
  schedule_deadline();
}

// The closing handshake is over: our side of the connection shuts, and the peer's end (it closes
// the TCP connection, RFC 6455 section 7.1.1) is read before the socket is closed. Closed at once
// instead, a socket with unread bytes (the rest of an oversized message) sends a reset, and the
// peer may never see the close frame just written.
void WsSession::teardown() {
  if (torn_down_ || socket_closed_) return;
  torn_down_ = true;
  if (!ended_) end_connection("closed");
  if (tls_) tls_->shut_down();  // close_notify; the peer's is read with its end
  beast::error_code ignored;
  socket_.shutdown(net::socket_base::shutdown_send, ignored);
}

void WsSession::end_connection(std::string_view why) {
  if (ended_) return;
  ended_ = true;
  closing_ = true;
  shard_.fanout().remove(*this);
  queue_.drop();
  logging::info({"ws.ended", label_.id, label_.remote}, "ended: {}", why);
}

void WsSession::close_socket() {
  if (socket_closed_) return;
  socket_closed_ = true;
  TimerWheel::cancel(*this);
  beast::error_code ignored;
  socket_.close(ignored);
}

}  // namespace kabar::broker
