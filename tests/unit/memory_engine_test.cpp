#include "kabar/broker/memory_engine.hpp"

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>

namespace kabar::broker {
namespace {

using namespace std::chrono_literals;

v1::Article article(const std::string& id, std::initializer_list<const char*> topics) {
  v1::Article a;
  a.set_id(id);
  a.set_version(1);
  a.set_headline("h");
  for (const char* topic : topics) a.add_topics(topic);
  return a;
}

TEST(MemoryEngine, AssignsConsecutiveOffsetsPerTopicAndHandsEveryDeliveryToTheSink) {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> delivered;
  MemoryEngine engine([&](std::shared_ptr<const DeliveryBatch> batch) {
    std::lock_guard lock(mutex);
    for (const auto& ref : batch->deliveries) {
      delivered.push_back(ref.topic + "#" + std::to_string(ref.offset));
    }
    cv.notify_all();
  });
  std::vector<std::future<PublishOutcome>> outcomes;
  for (int i = 0; i < 3; ++i) {
    auto promise = std::make_shared<std::promise<PublishOutcome>>();
    outcomes.push_back(promise->get_future());
    std::vector<PublishRequest> requests;
    requests.push_back(
        {article("a" + std::to_string(i), {"international", "defense"}),
         {},
         [promise](PublishOutcome outcome) { promise->set_value(std::move(outcome)); }});
    engine.publish(std::move(requests));
  }
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    ASSERT_EQ(outcomes[i].wait_for(5s), std::future_status::ready);
    const auto outcome = outcomes[i].get();
    ASSERT_FALSE(outcome.rejection);
    ASSERT_EQ(outcome.result.offsets_size(), 2);
    EXPECT_EQ(outcome.result.offsets(0).topic(), "international");
    EXPECT_EQ(outcome.result.offsets(0).offset(), i + 1);
    EXPECT_EQ(outcome.result.offsets(1).offset(), i + 1);
    EXPECT_EQ(outcome.result.epoch(), engine.epoch());
  }
  std::unique_lock lock(mutex);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return delivered.size() == 6; }));
  EXPECT_EQ(delivered.front(), "international#1");
  EXPECT_EQ(delivered.back(), "defense#3");
}

TEST(MemoryEngine, ReportsPositionsOfTheTopicsAPatternMatches) {
  MemoryEngine engine([](auto) {});
  std::promise<void> published;
  std::vector<PublishRequest> requests;
  requests.push_back({article("a", {"defense.asia", "defense.europe", "sports"}),
                      {},
                      [&](PublishOutcome) { published.set_value(); }});
  engine.publish(std::move(requests));
  ASSERT_EQ(published.get_future().wait_for(5s), std::future_status::ready);
  std::promise<ReadResult> read;
  engine.read({"defense.>", {}, false, 0, 0},
              [&](auto result) { read.set_value(std::move(result)); });
  auto future = read.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  const auto found = future.get().topics;
  ASSERT_EQ(found.size(), 2U);
  EXPECT_EQ(found[0].topic, "defense.asia");
  EXPECT_EQ(found[0].last_offset, 1U);
  EXPECT_EQ(found[0].epoch, engine.epoch());
}

TEST(MemoryEngine, RecoversOnlyWhenNothingWasMissed) {
  MemoryEngine engine([](auto) {});
  std::promise<void> published;
  std::vector<PublishRequest> requests;
  requests.push_back({article("a", {"defense"}), {}, [&](PublishOutcome) {}});
  requests.push_back(
      {article("b", {"defense"}), {}, [&](PublishOutcome) { published.set_value(); }});
  engine.publish(std::move(requests));
  ASSERT_EQ(published.get_future().wait_for(5s), std::future_status::ready);
  auto recover_from = [&](std::uint64_t offset) {
    ReadRequest request{"defense", {}, true, 1 << 20, SIZE_MAX};
    auto& from = request.from.emplace_back();
    from.set_topic("defense");
    from.mutable_position()->set_offset(offset);
    from.mutable_position()->set_epoch(engine.epoch());
    std::promise<ReadResult> read;
    engine.read(std::move(request), [&](auto result) { read.set_value(std::move(result)); });
    return read.get_future().get();
  };
  EXPECT_FALSE(recover_from(2).not_recoverable);
  ASSERT_TRUE(recover_from(1).not_recoverable);
  EXPECT_THAT(*recover_from(1).not_recoverable, testing::HasSubstr("no longer reaches back"));
}

// Nothing in memory could hold an embargoed article until its time: refused, never sent early.
TEST(MemoryEngine, RefusesAnArticleUnderEmbargoInsteadOfDeliveringItEarly) {
  std::size_t delivered = 0;
  MemoryEngine engine(
      [&](std::shared_ptr<const DeliveryBatch> batch) { delivered += batch->deliveries.size(); });
  std::vector<PublishOutcome> outcomes;
  std::vector<PublishRequest> requests;
  auto held = article("held", {"defense"});
  held.mutable_embargoed()->set_seconds(253'402'300'799);  // 9999: past int64 nanoseconds
  auto past = article("past", {"defense"});
  past.mutable_embargoed()->set_seconds(1'000'000'000);  // 2001: lifted long ago
  for (auto* a : {&held, &past}) {
    requests.push_back({*a, {}, [&](PublishOutcome outcome) { outcomes.push_back(outcome); }});
  }
  engine.publish(std::move(requests));  // the memory engine answers before it returns
  ASSERT_EQ(outcomes.size(), 2U);
  ASSERT_TRUE(outcomes[0].rejection);
  EXPECT_THAT(outcomes[0].rejection->message, testing::HasSubstr("--store memory"));
  EXPECT_FALSE(outcomes[1].rejection);
  EXPECT_EQ(delivered, 1U);
}

}  // namespace
}  // namespace kabar::broker

namespace kabar::broker {
namespace {

// Protobuf's JSON reader, strict: what a browser's JSON.parse and a protobuf JSON client read.
v1::ServerMessage from_json(std::string_view json) {
  v1::ServerMessage message;
  google::protobuf::util::JsonParseOptions strict;
  strict.ignore_unknown_fields = false;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                  google::protobuf::StringPiece(json.data(), json.size()), &message, strict)
                  .ok())
      << json;
  return message;
}

// A batch carries JSON only while a connection reads JSON, and then each delivery's JSON is the
// same ServerMessage as its protobuf bytes.
TEST(MemoryEngine, EncodesABatchToJsonOnceAndOnlyWhileAJsonReaderIsConnected) {
  std::shared_ptr<const DeliveryBatch> last;
  MemoryEngine engine([&](std::shared_ptr<const DeliveryBatch> batch) { last = batch; });
  const auto publish = [&](const std::string& id) {
    std::vector<PublishRequest> requests;
    auto a = article(id, {"international", "defense"});
    a.set_body("Kata \"kutipan\" \\ dan baris\nbaru");
    requests.push_back({a, {}, [](PublishOutcome) {}});
    engine.publish(std::move(requests));  // answered, and the batch sunk, before it returns
  };
  publish("binary-only");
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->json.empty());

  engine.demand().json_reader_joined();
  publish("with-json");
  ASSERT_EQ(last->deliveries.size(), 2U);
  for (const auto& ref : last->deliveries) {
    ASSERT_GT(ref.json_size, 0U);
    v1::ServerMessage binary;
    ASSERT_TRUE(binary.ParseFromArray(last->bytes.data() + ref.begin, static_cast<int>(ref.size)));
    const auto json = from_json(std::string_view(last->json).substr(ref.json_begin, ref.json_size));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(binary, json))
        << binary.DebugString() << "\n"
        << json.DebugString();
  }
  engine.demand().json_reader_left();
  publish("binary-again");
  EXPECT_TRUE(last->json.empty());
}

}  // namespace
}  // namespace kabar::broker
