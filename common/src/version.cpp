#include "kabar/version.hpp"

#include <string>

namespace kabar {

std::string version_line() {
  return std::string(kVersion) + " (commit " + std::string(build_commit()) + ")";
}

}  // namespace kabar
