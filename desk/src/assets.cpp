#include "kabar/desk/assets.hpp"

#include <algorithm>

namespace kabar::desk {

const Asset* find_asset(std::string_view path) {
  const auto assets = embedded_assets();
  const auto found = std::ranges::find(assets, path, &Asset::path);
  return found == assets.end() ? nullptr : &*found;
}

}  // namespace kabar::desk
