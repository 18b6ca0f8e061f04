// kabar-sub: subscribes to topics or patterns and prints each article as it arrives.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/signal_set.hpp>
#include <iostream>
#include <mutex>

#include "cli.hpp"
#include "kabar/client/client.hpp"
#include "kabar/common/topic.hpp"
#include "kabar/version.hpp"

namespace {

using google::protobuf::util::TimeUtil;

// "international#3 urgency=1 lang=id 2025-04-28T06:30:00Z urn:...:pakistan v1 | Headline"
std::string readable(const kabar::v1::Delivery& delivery) {
  const auto& article = delivery.article();
  std::string line = delivery.topic() + "#" + std::to_string(delivery.offset());
  line +=
      " urgency=" + (article.urgency() == 0 ? std::string("-") : std::to_string(article.urgency()));
  line += " lang=" + (article.language().empty() ? std::string("-") : article.language());
  if (article.has_version_created()) line += " " + TimeUtil::ToString(article.version_created());
  line += " " + article.id() + " v" + std::to_string(article.version());
  if (article.version() > 1) line += " (correction)";
  if (article.pubstatus() == kabar::v1::PUB_STATUS_CANCELED) line += " RETRACTED";
  line += " | " + (article.headline().empty() ? article.body().substr(0, 120) : article.headline());
  return line;
}

// One JSON object, or (never a partial line on stdout) a line on stderr saying why not.
std::optional<std::string> json(const kabar::v1::Delivery& delivery) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  const auto status = google::protobuf::util::MessageToJsonString(delivery, &out, options);
  if (status.ok()) return out;
  std::cerr << "kabar-sub: " << delivery.topic() << "#" << delivery.offset()
            << " cannot be printed as JSON: " << status.message() << std::endl;
  return std::nullopt;
}

// One line on stderr saying whether a subscription got everything it missed.
void report_recovery(const std::string& topic, const kabar::v1::SubscribeResult& result) {
  if (result.recovered()) {
    std::cerr << "kabar-sub: recovered " << topic << ": every missed article follows" << std::endl;
    return;
  }
  std::string from;
  for (const auto& position : result.positions()) {
    from += " " + position.topic() + "#" + std::to_string(position.position().offset()) +
            " epoch " + position.position().epoch();
  }
  std::cerr << "kabar-sub: could not recover " << topic << ": " << result.not_recovered_reason()
            << "; articles were missed; continuing with new ones after"
            << (from.empty() ? " nothing" : from) << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  kabar::client::Options options;
  options.client_name = "kabar-sub";
  std::vector<std::string> topics;
  std::uint32_t max_urgency = 0;
  std::vector<std::string> languages;
  bool as_json = false;
  std::uint64_t count = 0;
  std::uint64_t since = 0;
  std::string epoch;
  int timeout_ms = 10'000;

  CLI::App app{"kabar-sub: print the articles a kabar broker delivers, as they arrive"};
  app.set_version_flag("--version", kabar::version_line());
  kabar::cli::add_connection_options(app, options);
  app.add_option("--topic,-t", topics,
                 "topic or pattern ('*' one segment, trailing '>' the rest); repeat for several")
      ->required();
  app.add_option("--max-urgency", max_urgency,
                 "only articles of IPTC urgency 1..N (2: flash and urgent only)")
      ->check(CLI::Range(1, 9));
  app.add_option("--language", languages, "only articles in this language (repeat for several)");
  app.add_flag("--json", as_json, "one JSON object per line (protobuf JSON mapping of Delivery)");
  app.add_option("--count,-n", count, "exit after N articles")->check(CLI::PositiveNumber);
  auto* since_option = app.add_option(
      "--since", since, "first recover the articles after this offset (one plain topic)");
  auto* epoch_option =
      app.add_option("--epoch", epoch, "the epoch that offset belongs to")->needs(since_option);
  since_option->needs(epoch_option);
  app.add_option("--timeout-ms", timeout_ms, "give up connecting or subscribing after this")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
    if (since_option->count() > 0 && (topics.size() != 1 || kabar::is_pattern(topics.front()))) {
      throw CLI::ValidationError("--since",
                                 "recovers one plain topic: give exactly one --topic "
                                 "without wildcards");
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  // The first of: --count reached (0), SIGINT/SIGTERM (0), an error or the connection lost (1).
  // Declared before the I/O thread so that its handlers can never outlive it.
  std::promise<int> outcome;
  std::once_flag decided;
  auto decide = [&](int status, const std::string& message) {
    std::call_once(decided, [&] {
      if (!message.empty()) kabar::cli::report("kabar-sub", message);
      outcome.set_value(status);
    });
  };
  std::atomic<std::uint64_t> received = 0;
  auto on_delivery = [&](const kabar::v1::Delivery& delivery) {
    if (count != 0 && received >= count) return;
    if (!as_json) {
      std::cout << readable(delivery) << std::endl;
    } else if (const auto line = json(delivery)) {
      std::cout << *line << std::endl;
    }
    if (++received == count) decide(0, "");
  };

  const std::chrono::milliseconds timeout(timeout_ms);
  kabar::cli::IoThread io;
  std::unique_ptr<kabar::client::Client> client;
  boost::asio::signal_set signals(io.context(), SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec) decide(0, "");
  });
  try {
    client = std::make_unique<kabar::client::Client>(io.context(), options);
    // Lost connections are retried; every subscription resumes where it stopped.
    client->on_reconnect([](const kabar::client::CloseInfo& why, std::chrono::milliseconds delay) {
      std::cerr << "kabar-sub: connection lost ("
                << (why.code != 0 ? std::to_string(why.code) + " " : std::string()) << why.reason
                << "): reconnecting in " << delay.count() << " ms" << std::endl;
    });
    client->on_resume([&](const std::string& topic, const kabar::client::Response& response) {
      if (!response.ok()) {
        std::cerr << "kabar-sub: resubscribing to " << topic << " failed: " << response.error_text()
                  << std::endl;
        return;
      }
      report_recovery(topic, response.reply.subscribe());
    });
    client->on_close([&](const kabar::client::CloseInfo& info) {
      if (info.by_client) return;
      decide(1, "connection closed" +
                    (info.code != 0 ? " by the broker (" + std::to_string(info.code) + ")" : "") +
                    ": " + info.reason);
    });
    auto connected = client->connect();
    kabar::cli::await(connected, timeout, "connect to " + options.url);
    for (const auto& topic : topics) {
      kabar::v1::Subscribe request;
      request.set_topic(topic);
      request.mutable_filter()->set_max_urgency(max_urgency);
      for (const auto& language : languages) request.mutable_filter()->add_languages(language);
      if (since_option->count() > 0) {
        request.mutable_since()->set_offset(since);
        request.mutable_since()->set_epoch(epoch);
      }
      auto subscribed = client->subscribe(std::move(request), on_delivery);
      const auto result = kabar::cli::await(subscribed, timeout, "subscribe to " + topic);
      std::cerr << "kabar-sub: subscribed to " << topic << std::endl;
      if (since_option->count() > 0) report_recovery(topic, result);
    }
  } catch (const std::exception& e) {
    decide(1, e.what());
  }

  const int status = outcome.get_future().get();
  signals.cancel();
  if (client) {
    std::promise<void> closed;
    client->close([&closed] { closed.set_value(); });
    closed.get_future().wait_for(timeout);
  }
  return status;
}
