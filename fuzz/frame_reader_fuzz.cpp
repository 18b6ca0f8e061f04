// libFuzzer: any bytes a client sends after the upgrade, in reads of any sizes (the first byte
// chooses them): every event is within bounds, nothing is parsed after an error, and what is
// kept between reads never passes a frame plus a read.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "net/frame_reader.hpp"

namespace {

constexpr std::size_t kMaxMessage = 4096;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = std::max<std::size_t>(1, data[0] % 64 == 0 ? size : data[0] % 64);
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  kabar::broker::FrameReader reader(kMaxMessage);
  using Kind = kabar::broker::FrameReader::Event::Kind;
  bool failed = false;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    const auto length = std::min(piece, bytes.size() - at);
    reader.feed({bytes.data() + at, length});
    for (auto event = reader.next(); event.kind != Kind::kNeedMore; event = reader.next()) {
      check(!failed);
      switch (event.kind) {
        case Kind::kMessage:
          check(event.payload.size() <= kMaxMessage);
          if (event.text) check(kabar::broker::valid_utf8(event.payload));
          break;
        case Kind::kPing:
        case Kind::kPong:
          check(event.payload.size() <= 125);
          break;
        case Kind::kClose:
          check(event.code == 1005 || kabar::broker::FrameReader::valid_close_code(event.code));
          break;
        case Kind::kError:
          check(event.code == 1002 || event.code == 1007 || event.code == 1009);
          check(!event.payload.empty());
          failed = true;
          break;
        case Kind::kNeedMore:
          break;
      }
    }
    check(reader.buffered_bytes() <= 2 * (kMaxMessage + 14) + piece);
    reader.trim(0);
  }
  return 0;
}
