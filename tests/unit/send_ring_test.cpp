// SendRing (broker/src/core/send_ring.hpp): a pass's sends in one io_uring submission, each
// answered as a non-blocking sendmsg would be.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "core/send_ring.hpp"

namespace kabar::broker {
namespace {

struct Recorder final : SendTarget {
  void on_sent(int result) override { answers.push_back(result); }
  std::vector<int> answers;
};

// One message of `bytes` bytes, kept where the ring can read it until submit().
struct Message {
  explicit Message(std::size_t bytes) : body(bytes, 'k') {
    part.iov_base = body.data();
    part.iov_len = body.size();
    header.msg_iov = &part;
    header.msg_iovlen = 1;
  }
  std::string body;
  iovec part{};
  msghdr header{};
};

class SendRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    connect_pair();
    std::error_code error;
    ring_ = SendRing::open(error);
    if (!ring_) GTEST_SKIP() << "io_uring refused here: " << error.message();
  }
  void TearDown() override {
    for (const int fd : ends_) {
      if (fd >= 0) ::close(fd);
    }
  }

  // A TCP connection over loopback, as the broker's: ends_[0] sends, ends_[1] receives.
  void connect_pair() {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    auto* any = reinterpret_cast<sockaddr*>(&address);
    ASSERT_EQ(::bind(listener, any, sizeof address), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    ASSERT_EQ(::getsockname(listener, any, &size), 0);
    ends_[0] = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(::connect(ends_[0], any, sizeof address), 0);
    ends_[1] = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    ASSERT_GE(ends_[1], 0);
  }

  int ends_[2] = {-1, -1};
  std::unique_ptr<SendRing> ring_;
};

TEST_F(SendRingTest, AnswersEverySendOfAPassBeforeSubmitReturns) {
  auto recorder = std::make_shared<Recorder>();
  std::vector<std::unique_ptr<Message>> messages;
  // More than the ring holds: a full ring is submitted and answered on the way.
  for (int i = 0; i < 300; ++i) {
    messages.push_back(std::make_unique<Message>(10));
    ASSERT_TRUE(ring_->add(ends_[0], messages.back()->header, recorder));
  }
  ring_->submit();
  ASSERT_EQ(recorder->answers.size(), 300U);
  for (const int answer : recorder->answers) EXPECT_EQ(answer, 10);
  std::string received(3000, '\0');
  std::size_t total = 0;
  while (total < received.size()) {
    const auto n = ::recv(ends_[1], received.data() + total, received.size() - total, 0);
    ASSERT_GT(n, 0);
    total += static_cast<std::size_t>(n);
  }
  EXPECT_EQ(received, std::string(3000, 'k'));
}

TEST_F(SendRingTest, AFullSocketAnswersWhatItTookThenEagainWithoutWaiting) {
  auto recorder = std::make_shared<Recorder>();
  Message big(64 * 1024);
  // Nobody reads: the socket fills, and a send then takes part or nothing, as sendmsg with
  // MSG_DONTWAIT does; were the ring to wait for room instead, submit() would never return.
  for (int pass = 0; pass < 1000 && (recorder->answers.empty() || recorder->answers.back() > 0);
       ++pass) {
    ASSERT_TRUE(ring_->add(ends_[0], big.header, recorder));
    ring_->submit();
    ASSERT_EQ(recorder->answers.size(), static_cast<std::size_t>(pass) + 1);
  }
  ASSERT_EQ(recorder->answers.back(), -EAGAIN);
}

TEST_F(SendRingTest, APeerGoneIsAnsweredWithAnErrorAndNoSignal) {
  ::close(ends_[1]);
  ends_[1] = -1;
  auto recorder = std::make_shared<Recorder>();
  Message message(100);
  // The first send still leaves (the peer's reset answers it); a later one fails. MSG_NOSIGNAL:
  // no SIGPIPE ends the test.
  for (int pass = 0; pass < 10 && (recorder->answers.empty() || recorder->answers.back() > 0);
       ++pass) {
    ASSERT_TRUE(ring_->add(ends_[0], message.header, recorder));
    ring_->submit();
  }
  ASSERT_FALSE(recorder->answers.empty());
  const int last = recorder->answers.back();
  EXPECT_TRUE(last == -EPIPE || last == -ECONNRESET) << last;
}

}  // namespace
}  // namespace kabar::broker
