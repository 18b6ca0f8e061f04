#pragma once

#include <span>
#include <string_view>

// The desk's web files, embedded in the broker at build time (desk/CMakeLists.txt).
namespace kabar::desk {

struct Asset {
  std::string_view path;          // the URL path it is served at: "/", "/desk.js", ...
  std::string_view content_type;  // the Content-Type header
  std::string_view body;
  std::string_view etag;  // a strong ETag, quoted: "\"0123456789abcdef\""
};

// Every embedded file (generated code).
std::span<const Asset> embedded_assets();

// The file served at `path` (without its query), or nullptr.
const Asset* find_asset(std::string_view path);

}  // namespace kabar::desk
