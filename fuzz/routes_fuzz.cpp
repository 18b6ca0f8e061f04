// libFuzzer: any text given to --routes (or read again on SIGHUP): a table, or refused with
// std::invalid_argument naming the line; a table then routes a tagged article within bounds.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "core/routes.hpp"
#include "kabar/common/article.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto routes = kabar::broker::Routes::parse(text, "routes.toml");
    kabar::v1::Article article;
    for (const auto* key : {"medtop:20000053", "armed conflict", "a", "A", "x"}) {
      auto& subject = *article.add_subjects();
      subject.set_code(key);
      subject.set_name(key);
    }
    routes.route(article);
    if (static_cast<std::size_t>(article.topics_size()) > 5 * kabar::kMaxTopicsPerArticle) {
      __builtin_trap();  // each subject adds at most one entry's topics
    }
  } catch (const std::invalid_argument&) {
    // refused with a message: what bad input must get
  }
  return 0;
}
