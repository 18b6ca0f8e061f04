// TLS on the real broker: wss:// and https:// with a certificate made at test time.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

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
