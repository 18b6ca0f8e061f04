// publish_fixture URL TOPIC NINJS_FILE: subscribes to TOPIC, publishes the ninjs article to it,
// and prints "delivered ID vVERSION at offset N" once its own subscription hands it back.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "kabar/client/client.hpp"
#include "kabar/common/ninjs.hpp"
#include "kabar/version.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: publish_fixture URL TOPIC NINJS_FILE\n";
    return 2;
  }
  std::ifstream file(argv[3], std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  auto article = kabar::article_from_ninjs(text.str());
  article.add_topics(argv[2]);

  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread runner([&io] { io.run(); });
  int status = 1;
  {
    kabar::client::Options options;
    options.url = argv[1];
    options.client_name = "publish_fixture";
    kabar::client::Client client(io, options);
    try {
      client.connect().get();
      std::promise<kabar::v1::Delivery> delivered;
      auto arrived = delivered.get_future();
      kabar::v1::Subscribe subscribe;
      subscribe.set_topic(argv[2]);
      client
          .subscribe(subscribe,
                     [&delivered, once = std::make_shared<std::once_flag>()](
                         const kabar::v1::Delivery& delivery) {
                       std::call_once(*once, [&] { delivered.set_value(delivery); });
                     })
          .get();
      const auto ack = client.publish(article).get();
      if (arrived.wait_for(std::chrono::seconds(10)) == std::future_status::ready) {
        const auto delivery = arrived.get();
        std::cout << "kabar " << kabar::version_line() << ": published " << ack.id() << " v"
                  << ack.version() << "; delivered " << delivery.article().id() << " v"
                  << delivery.article().version() << " at offset " << delivery.offset() << "\n";
        status = 0;
      } else {
        std::cerr << "publish_fixture: the article was acknowledged but never delivered\n";
      }
    } catch (const std::exception& e) {
      std::cerr << "publish_fixture: " << e.what() << "\n";
    }
    std::promise<void> closed;
    client.close([&closed] { closed.set_value(); });
    closed.get_future().wait_for(std::chrono::seconds(5));
  }
  work.reset();
  io.stop();
  runner.join();
  return status;
}
