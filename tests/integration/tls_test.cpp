// TLS on the real broker: wss:// and https:// with a certificate made at test time.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "broker.hpp"
#include "client_support.hpp"
#include "raw_ws.hpp"
#include "tls.hpp"

namespace kabar::test {
namespace {

using Clock = std::chrono::steady_clock;

class Tls : public ::testing::Test {
 protected:
  TempDir dir;
  TestCertificate certificate = make_self_signed_certificate(dir.path());
  BrokerProcess broker{{"--tls-cert", certificate.certificate.string(), "--tls-key",
                        certificate.private_key.string(), "--handshake-timeout-ms", "1000"}};

  [[nodiscard]] std::string wss_url(const std::string& host = "127.0.0.1") const {
    return "wss://" + host + ":" + std::to_string(broker.port()) + "/v1/ws";
  }
  [[nodiscard]] client::Options options(const std::string& name,
                                        const std::string& host = "127.0.0.1") const {
    client::Options o;
    o.url = wss_url(host);
    o.tls_ca_file = certificate.certificate.string();
    o.client_name = name;
    return o;
  }
};

TEST_F(Tls, PublishAndSubscribeOverWss) {
  EXPECT_TRUE(broker.process().out().find("(wss://127.0.0.1:") != std::string::npos ||
              broker.process().err().find("(wss://127.0.0.1:") != std::string::npos);
  Connected reader(options("reader"));
  Inbox inbox;
  reader.subscribe("international", inbox);
  Connected desk(options("desk", "localhost"));  // the certificate names both
  for (int i = 1; i <= 100; ++i) {
    const auto result = desk.publish(article("urn:tls:" + std::to_string(i), {"international"}));
    ASSERT_EQ(result.offsets(0).offset(), static_cast<std::uint64_t>(i));
  }
  ASSERT_TRUE(inbox.wait_for(100));
  const auto items = inbox.items();
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].offset(), i + 1);
    EXPECT_EQ(items[i].article().id(), "urn:tls:" + std::to_string(i + 1));
  }  // The drain closes TLS connections as it does plain ones, within the grace period.
  EXPECT_EQ(broker.stop(), 0);
}

// A masked client frame of `payload` (opcode binary unless told).
std::string masked_frame(const std::string& payload, unsigned opcode = 0x2) {
  std::string out{static_cast<char>(0x80U | opcode)};
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(0x80U | payload.size()));
  } else if (payload.size() < 65536) {
    out.push_back(static_cast<char>(0x80U | 126U));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    out.push_back(static_cast<char>(0x80U | 127U));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>(payload.size() >> shift));
  }
  const std::string key = "\x5a\x6b\x7c\x8d";
  out += key;
  for (std::size_t i = 0; i < payload.size(); ++i)
    out.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return out;
}

// A WebSocket client over a blocking TLS socket that sends and reads raw bytes, each read bounded
// by the socket's 5 s time-out.
class WssClient {
 public:
  explicit WssClient(std::uint16_t port) : fd_(connect_loopback(port)) {
    SSL_set_fd(ssl_.get(), fd_);
    connected_ = SSL_connect(ssl_.get()) == 1;
  }
  ~WssClient() { ::close(fd_); }
  WssClient(const WssClient&) = delete;
  WssClient& operator=(const WssClient&) = delete;

  [[nodiscard]] bool connected() const { return connected_; }
  SSL* ssl() { return ssl_.get(); }
  /// What was read and not consumed yet.
  std::string received;

  /// One SSL_write: a TLS record of its own (or several, past 16 KiB).
  void send(const std::string& bytes) {
    ASSERT_EQ(SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
  void send_upgrade() {
    send(
        "GET /v1/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: kabar.v1.proto\r\n\r\n");
  }
  /// Reads until `received` holds `size` bytes; false when the connection ended first.
  bool read_until(std::size_t size) {
    char buffer[16384];
    while (received.size() < size) {
      const int got = SSL_read(ssl_.get(), buffer, sizeof buffer);
      if (got <= 0) return false;
      received.append(buffer, static_cast<std::size_t>(got));
    }
    return true;
  }
  /// The upgrade's answer, taken off `received`.
  std::string read_response() {
    while (received.find("\r\n\r\n") == std::string::npos) {
      if (!read_until(received.size() + 1)) return received;
    }
    const auto end = received.find("\r\n\r\n") + 4;
    auto response = received.substr(0, end);
    received.erase(0, end);
    return response;
  }
  /// The next frame (a server's are unmasked, never fragmented here): its opcode and payload.
  bool read_frame(unsigned& opcode, std::string& payload) {
    if (!read_until(2)) return false;
    std::size_t length = static_cast<unsigned char>(received[1]) & 0x7fU;
    std::size_t header = 2;
    if (length >= 126) {
      header = length == 126 ? 4 : 10;
      if (!read_until(header)) return false;
      length = 0;
      for (std::size_t i = 2; i < header; ++i) {
        length = length << 8 | static_cast<unsigned char>(received[i]);
      }
    }
    if (!read_until(header + length)) return false;
    opcode = static_cast<unsigned char>(received[0]) & 0x0fU;
    payload = received.substr(header, length);
    received.erase(0, header + length);
    return true;
  }

 private:
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context_{SSL_CTX_new(TLS_client_method()),
                                                             SSL_CTX_free};
  int fd_;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_{SSL_new(context_.get()), SSL_free};
  bool connected_ = false;
};

// The broker takes the TLS session over from its HTTP layer at the upgrade: records the client
// sent before the answer (each its own record here), a message spanning many records, a ping, and
// the closing handshake with close_notify all go through the connection's own TLS.
TEST_F(Tls, AWssConnectionIsServedFromItsFirstRecordToItsCloseNotify) {
  WssClient client(broker.port());
  ASSERT_TRUE(client.connected());
  v1::ClientMessage connect;
  connect.set_id(1);
  connect.mutable_connect()->set_client_name("records");
  v1::ClientMessage publish;
  publish.set_id(2);
  *publish.mutable_publish()->mutable_article() = article("urn:tls:records", {"international"});
  publish.mutable_publish()->mutable_article()->set_body(std::string(100'000, 'b'));
  client.send_upgrade();
  client.send(masked_frame(connect.SerializeAsString()));
  client.send(masked_frame(publish.SerializeAsString()));  // 100 KB: seven records
  client.send(masked_frame("tls ping", 0x9));
  const auto response = client.read_response();
  EXPECT_TRUE(response.starts_with("HTTP/1.1 101 ")) << response;
  // Three frames back: Connect's reply, then the pong and the publish's reply (acknowledged once
  // stored: the pong may come first).
  std::vector<v1::ServerMessage> messages;
  std::vector<std::string> pongs;
  while (messages.size() + pongs.size() < 3) {
    unsigned opcode = 0;
    std::string payload;
    ASSERT_TRUE(client.read_frame(opcode, payload));
    if (opcode == 0xaU) {
      pongs.push_back(payload);
    } else {
      ASSERT_TRUE(messages.emplace_back().ParseFromString(payload));
    }
  }
  ASSERT_EQ(messages.size(), 2U);
  EXPECT_TRUE(messages[0].reply().has_connect());
  EXPECT_EQ(messages[1].reply().id(), 2U);
  EXPECT_EQ(messages[1].reply().publish().offsets(0).offset(), 1U) << messages[1].DebugString();
  EXPECT_EQ(pongs, std::vector<std::string>{"tls ping"});
  // The closing handshake: our close, the broker's echo, then its close_notify.
  client.send(masked_frame(std::string("\x03\xe8", 2), 0x8));
  unsigned opcode = 0;
  std::string payload;
  ASSERT_TRUE(client.read_frame(opcode, payload));
  EXPECT_EQ(opcode, 0x8U);
  char rest[64];
  EXPECT_EQ(SSL_read(client.ssl(), rest, sizeof rest), 0);
  EXPECT_EQ(SSL_get_error(client.ssl(), 0), SSL_ERROR_ZERO_RETURN)
      << "close_notify, not a bare end";
}

// A wss:// reader that reads nothing while 6 MB are published, more than the sockets' buffers hold
// between them (the reader's receive window stays at its first size while it reads nothing): the
// broker's writes go on as the socket drains (the encrypted rest kept by the connection, past the
// pass that encrypted it), and every article arrives, in order.
TEST_F(Tls, AReaderThatFallsBehindOverTlsGetsEveryArticleInOrder) {
  WssClient client(broker.port());
  ASSERT_TRUE(client.connected());
  v1::ClientMessage connect;
  connect.set_id(1);
  connect.mutable_connect();
  v1::ClientMessage subscribe;
  subscribe.set_id(2);
  subscribe.mutable_subscribe()->set_topic("international");
  client.send_upgrade();
  EXPECT_TRUE(client.read_response().starts_with("HTTP/1.1 101 "));
  client.send(masked_frame(connect.SerializeAsString()) +
              masked_frame(subscribe.SerializeAsString()));
  const auto next_message = [&client](v1::ServerMessage& message) {
    unsigned opcode = 0;
    std::string payload;
    return client.read_frame(opcode, payload) && message.ParseFromString(payload);
  };
  v1::ServerMessage message;
  ASSERT_TRUE(next_message(message));
  ASSERT_TRUE(next_message(message));
  ASSERT_TRUE(message.reply().has_subscribe()) << message.DebugString();

  constexpr int kArticles = 60;
  Connected desk(options("desk"));
  for (int i = 1; i <= kArticles; ++i) {
    auto story = article("urn:tls:slow:" + std::to_string(i), {"international"});
    story.set_body(std::string(100'000, static_cast<char>('a' + i % 26)));
    desk.publish(story);
  }
  int seen = 0;
  while (seen < kArticles) {
    ASSERT_TRUE(next_message(message)) << seen;
    for (const auto& delivery : message.deliveries()) {
      ++seen;
      EXPECT_EQ(delivery.offset(), static_cast<std::uint64_t>(seen));
      EXPECT_EQ(delivery.article().body(),
                std::string(100'000, static_cast<char>('a' + seen % 26)));
    }
  }
  EXPECT_EQ(seen, kArticles);
}

TEST_F(Tls, HttpsServesHealthzAndHistoryWithTls12OrLater) {
  const auto health =
      tls_exchange(broker.port(), "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                   certificate.certificate);
  ASSERT_TRUE(health.handshake_ok) << health.error;
  EXPECT_TRUE(health.protocol == "TLSv1.3" || health.protocol == "TLSv1.2") << health.protocol;
  EXPECT_TRUE(health.response.starts_with("HTTP/1.1 200 OK")) << health.response;
  EXPECT_NE(health.response.find("\r\n\r\nok\n"), std::string::npos) << health.response;

  {
    Connected desk(options("desk"));
    desk.publish(article("urn:tls:history", {"defense"}));
  }
  const auto history = tls_exchange(
      broker.port(),
      "GET /v1/topics/defense/articles HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
      certificate.certificate);
  ASSERT_TRUE(history.handshake_ok) << history.error;
  EXPECT_NE(history.response.find("urn:tls:history"), std::string::npos) << history.response;

  // TLS 1.2 is enough; 1.1 and 1.0 are refused at the handshake.
  const auto tls12 =
      tls_exchange(broker.port(), "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                   certificate.certificate, TLS1_2_VERSION);
  ASSERT_TRUE(tls12.handshake_ok) << tls12.error;
  EXPECT_EQ(tls12.protocol, "TLSv1.2");
  for (const int old_version : {TLS1_1_VERSION, TLS1_VERSION}) {
    const auto old =
        tls_exchange(broker.port(), "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                     certificate.certificate, old_version);
    EXPECT_FALSE(old.handshake_ok) << old.protocol;
    EXPECT_NE(old.error.find("protocol version"), std::string::npos) << old.error;
  }
  // The broker counts what it refused.
  const auto metrics =
      tls_exchange(broker.port(), "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                   certificate.certificate);
  EXPECT_NE(metrics.response.find("kabar_rejected_total{reason=\"tls_handshake\"} 2"),
            std::string::npos)
      << metrics.response;
}

TEST_F(Tls, PlainHttpOnTheTlsPortIsToldToUseTls) {
  const auto plain = http_get(broker.port(), "/healthz");
  EXPECT_EQ(plain.status, 400);
  EXPECT_EQ(plain.body, "this port speaks TLS only: use https:// and wss:// URLs\n");
  // A plain WebSocket client hears the same, and the broker keeps serving TLS clients.
  const auto upgrade = upgrade_from_origin(broker.port(), "");
  EXPECT_EQ(upgrade.status, 400);
  Connected desk(options("desk"));
  EXPECT_EQ(desk.publish(article("urn:tls:after-plain", {"wire"})).offsets(0).offset(), 1U);
}

TEST_F(Tls, AClientThatNeverFinishesTheHandshakeIsClosedAndBlocksNobody) {
  const int fd = connect_loopback(broker.port());
  // The first bytes of a TLS ClientHello record, then silence.
  const unsigned char hello_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  ASSERT_EQ(::send(fd, hello_start, sizeof hello_start, MSG_NOSIGNAL),
            static_cast<ssize_t>(sizeof hello_start));
  const auto started = Clock::now();
  {
    Connected desk(options("desk"));  // meanwhile, everybody else is served
    EXPECT_EQ(desk.publish(article("urn:tls:meanwhile", {"wire"})).offsets(0).offset(), 1U);
  }
  char byte = 0;
  const auto received = ::recv(fd, &byte, 1, 0);
  const auto waited = Clock::now() - started;
  ::close(fd);
  EXPECT_EQ(received, 0) << "the broker should have closed the connection";
  EXPECT_GE(waited, 800ms);
  EXPECT_LT(waited, 3s);
}

TEST_F(Tls, TheClientRefusesAnUntrustedCertificateOrOneForAnotherHost) {
  const auto expect_refused = [](const client::Options& options, const std::string& what) {
    try {
      Connected client(options);
      ADD_FAILURE() << "connected to a broker whose certificate " << what;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("certificate verify failed"), std::string::npos)
          << what << ": " << e.what();
    }
  };
  // Trusting a different certificate: the broker's does not verify.
  const auto other = make_self_signed_certificate(dir.path(), {"127.0.0.1"}, "other");
  auto untrusted = options("untrusted");
  untrusted.tls_ca_file = other.certificate.string();
  expect_refused(untrusted, "is not trusted");
  // Trusted, but not naming the host the URL names.
  const auto wrong_host = make_self_signed_certificate(dir.path(), {"news.example.org"}, "named");
  BrokerProcess named({"--tls-cert", wrong_host.certificate.string(), "--tls-key",
                       wrong_host.private_key.string()});
  client::Options mismatch;
  mismatch.url = "wss://127.0.0.1:" + std::to_string(named.port()) + "/v1/ws";
  mismatch.tls_ca_file = wrong_host.certificate.string();
  expect_refused(mismatch, "names another host");
}

TEST_F(Tls, KabarPubAndKabarSubSpeakWss) {
  Process sub({sub_path(), "--url", wss_url(), "--tls-ca", certificate.certificate.string(),
               "--topic", "international", "--count", "1"});
  const auto deadline = Clock::now() + 10s;
  while (sub.err().find("subscribed to international") == std::string::npos &&
         Clock::now() < deadline) {
    sub.wait_for_output("\n", 50ms);
  }
  ASSERT_NE(sub.err().find("subscribed to international"), std::string::npos) << sub.err();
  const auto pub =
      run({pub_path(), "--url", wss_url(), "--tls-ca", certificate.certificate.string(), "--topic",
           "international", "--headline", "Over TLS"});
  EXPECT_EQ(pub.status, 0) << pub.err;
  ASSERT_EQ(sub.wait(10s), 0) << sub.err();
  EXPECT_NE(sub.out().find("Over TLS"), std::string::npos) << sub.out();

  // Without --tls-ca the system's authorities do not know this certificate.
  const auto refused =
      run({pub_path(), "--url", wss_url(), "--topic", "international", "--headline", "Untrusted"});
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find("certificate verify failed"), std::string::npos) << refused.err;
}

TEST(TlsStartup, BadCertificateOrKeyFilesStopTheBrokerWithOneClearLine) {
  TempDir dir;
  const auto good = make_self_signed_certificate(dir.path());
  const auto other = make_self_signed_certificate(dir.path(), {"127.0.0.1"}, "other");
  const auto not_pem = dir.path() / "not.pem";
  { std::ofstream(not_pem) << "not a certificate\n"; }
  const std::string data = (dir.path() / "data").string();
  struct Case {
    std::vector<std::string> args;
    bool usage_error;  // refused by the flag parser (CLI11's exit status), else exit status 1
    std::string says;
  };
  const std::vector<Case> cases{
      {{"--tls-cert", not_pem.string(), "--tls-key", good.private_key.string()},
       false,
       "not a usable PEM certificate chain"},
      {{"--tls-cert", good.certificate.string(), "--tls-key", not_pem.string()},
       false,
       "not a usable unencrypted PEM private key"},
      {{"--tls-cert", good.certificate.string(), "--tls-key", other.private_key.string()},
       false,
       "does not belong to the certificate"},
      {{"--tls-cert", good.certificate.string()}, true, "--tls-cert requires --tls-key"},
      {{"--tls-cert", (dir.path() / "missing.pem").string(), "--tls-key",
        good.private_key.string()},
       true,
       "missing.pem"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{broker_path(), "--listen", "127.0.0.1:0", "--data-dir", data};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const auto result = run(argv, 10s);
    if (c.usage_error) {
      EXPECT_NE(result.status, 0) << c.says;
      EXPECT_NE(result.status, 1) << c.says;
    } else {
      EXPECT_EQ(result.status, 1) << c.says << "\n" << result.out << result.err;
    }
    EXPECT_NE((result.out + result.err).find(c.says), std::string::npos)
        << result.out << result.err;
  }
}

}  // namespace
}  // namespace kabar::test
