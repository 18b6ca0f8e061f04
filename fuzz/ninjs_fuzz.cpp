// libFuzzer: any text given to kabar-pub as a ninjs file: mapped, or refused with NinjsError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kabar/common/article.hpp"
#include "kabar/common/ninjs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    auto article = kabar::article_from_ninjs(json);
    article.add_topics("fuzz");
    (void)kabar::validate_article(article, 256 * 1024);
  } catch (const kabar::NinjsError&) {
    // refused with a message: what bad input must get
  }
  return 0;
}
