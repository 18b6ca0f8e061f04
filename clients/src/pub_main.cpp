// kabar-pub: publishes ninjs articles (or one written on the command line) and prints each
// acknowledgement.
#include <google/protobuf/util/time_util.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <vector>

#include "cli.hpp"
#include "kabar/client/client.hpp"
#include "kabar/common/article.hpp"
#include "kabar/common/ninjs.hpp"
#include "kabar/version.hpp"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string describe(const kabar::v1::PublishResult& result) {
  std::string line = "published " + result.id() + " v" + std::to_string(result.version()) + " to";
  for (const auto& offset : result.offsets()) {
    line += " " + offset.topic() + "#" + std::to_string(offset.offset());
  }
  if (result.has_embargoed_until()) {
    line += " nothing yet: held until its embargo lifts at " +
            google::protobuf::util::TimeUtil::ToString(result.embargoed_until());
  } else {
    line += " (epoch " + result.epoch() + ")";
  }
  if (result.duplicate()) line += " duplicate: already stored, not sent again";
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  kabar::client::Options options;
  options.client_name = "kabar-pub";
  options.reconnect.enabled = false;  // one shot: a lost connection is an error to report
  std::vector<std::string> topics;
  std::vector<std::string> files;
  kabar::v1::Article inline_article;
  std::uint32_t urgency = 0;
  int timeout_ms = 10'000;

  CLI::App app{"kabar-pub: publish news articles to a kabar broker"};
  app.set_version_flag("--version", kabar::version_line());
  kabar::cli::add_connection_options(app, options);
  app.add_option("--topic,-t", topics, "topic to publish to (repeat for several)")->required();
  auto* file_option = app.add_option("--file,-f", files,
                                     "ninjs 2.0 JSON article file (repeat to publish several, "
                                     "in order)")
                          ->check(CLI::ExistingFile);
  auto* headline = app.add_option(
      "--headline",
      [&](const std::vector<std::string>& v) {
        inline_article.set_headline(v.front());
        return true;
      },
      "headline of an article written on the command line");
  auto* body = app.add_option(
      "--body",
      [&](const std::vector<std::string>& v) {
        inline_article.set_body(v.front());
        return true;
      },
      "body text of that article");
  auto* id = app.add_option(
      "--id",
      [&](const std::vector<std::string>& v) {
        inline_article.set_id(v.front());
        return true;
      },
      "its id (default: a new urn:kabar:... id)");
  auto* urgency_option = app.add_option("--urgency", urgency, "its IPTC urgency, 1 (flash) to 9")
                             ->check(CLI::Range(0, 9));
  auto* language = app.add_option(
      "--language",
      [&](const std::vector<std::string>& v) {
        inline_article.set_language(v.front());
        return true;
      },
      "its BCP 47 language");
  for (auto* option : {headline, body, id, urgency_option, language}) {
    option->excludes(file_option);
  }
  app.add_option("--timeout-ms", timeout_ms, "give up when the broker has not answered by then")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
    if (files.empty() && inline_article.headline().empty() && inline_article.body().empty()) {
      throw CLI::ValidationError("give --file, or --headline and/or --body");
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    // Build and check every article before connecting: a bad file publishes nothing.
    std::vector<std::pair<std::string, kabar::v1::Article>> articles;
    for (const auto& path : files) {
      try {
        articles.emplace_back(path, kabar::article_from_ninjs(read_file(path)));
      } catch (const kabar::NinjsError& e) {
        throw std::runtime_error(path + ": " + e.what());
      }
    }
    if (files.empty()) {
      if (inline_article.id().empty()) {
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        inline_article.set_id(
            "urn:kabar:pub:" +
            std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count()));
      }
      inline_article.set_urgency(urgency);
      articles.emplace_back("command line", inline_article);
    }
    for (auto& [source, article] : articles) {
      for (const auto& topic : topics) article.add_topics(topic);
      if (auto rejection = kabar::validate_article(article, std::size_t{64} << 20)) {
        throw std::runtime_error(source + ": " + rejection->message);
      }
    }

    const std::chrono::milliseconds timeout(timeout_ms);
    kabar::cli::IoThread io;
    kabar::client::Client client(io.context(), options);
    auto connected = client.connect();
    kabar::cli::await(connected, timeout, "connect to " + options.url);
    std::vector<std::future<kabar::v1::PublishResult>> acks;
    acks.reserve(articles.size());
    for (auto& [source, article] : articles) acks.push_back(client.publish(std::move(article)));
    int status = 0;
    for (std::size_t i = 0; i < acks.size(); ++i) {
      try {
        std::cout << describe(kabar::cli::await(acks[i], timeout, "publish")) << std::endl;
      } catch (const std::exception& e) {
        status = kabar::cli::report("kabar-pub", articles[i].first + ": " + e.what());
      }
    }
    std::promise<void> closed;
    client.close([&closed] { closed.set_value(); });
    closed.get_future().wait_for(timeout);
    return status;
  } catch (const std::exception& e) {
    return kabar::cli::report("kabar-pub", e.what());
  }
}
