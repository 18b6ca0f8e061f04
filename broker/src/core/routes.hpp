#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kabar/v1/kabar.pb.h"

namespace kabar::broker {

/// The routing table (--routes FILE): IPTC subjects -> topics, so that a CMS tagging a story with
/// the media topic "armed conflict" reaches `defense` without knowing kabar's topic names.
///
/// The file is TOML, one table:
///
///     [subjects]
///     "medtop:20000053" = ["defense"]                  # a code,
///     "armed conflict" = ["defense", "international"]  # a name,
///     "http://cv.iptc.org/newscodes/mediatopic/16000000" = "international"  # or a URI
///
/// A subject matches an entry by its code, URI or name, compared without regard to ASCII case.
/// @note Immutable once built: the shards share one, replaced whole on SIGHUP.
class Routes {
 public:
  static constexpr std::size_t kMaxFileBytes = 4 << 20;
  static constexpr std::size_t kMaxEntries = 100'000;
  static constexpr std::size_t kMaxKeyLength = 1024;

  Routes() = default;  ///< routes nothing
  /// Parses a table; `source` names it in errors.
  /// @throws std::invalid_argument naming the source, the line and what is wrong.
  static Routes parse(std::string_view text, const std::string& source);
  /// Reads `file` (at most kMaxFileBytes) and parses it. @throws std::invalid_argument
  static Routes load(const std::filesystem::path& file);

  /// Adds to `article.topics` the topics its subjects map to, after those it names, each once.
  /// Looks at the first kMaxSubjectsPerArticle subjects (validation refuses more).
  void route(v1::Article& article) const;

  /// Subjects (entries) in the table.
  [[nodiscard]] std::size_t size() const { return topics_.size(); }

 private:
  void add_topics(std::string_view key, v1::Article& article) const;

  std::unordered_map<std::string, std::vector<std::string>> topics_;  // by lower-cased key
};

}  // namespace kabar::broker
