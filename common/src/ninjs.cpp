#include "kabar/common/ninjs.hpp"

#include <google/protobuf/util/time_util.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <string>

namespace kabar {
namespace {

using nlohmann::json;

[[noreturn]] void fail(std::string_view field, std::string_view why) {
  throw NinjsError("ninjs field '" + std::string(field) + "' " + std::string(why));
}

const json* member(const json& doc, const char* name) {
  const auto it = doc.find(name);
  return (it == doc.end() || it->is_null()) ? nullptr : &*it;
}

std::string string_field(const json& doc, const char* name) {
  const json* value = member(doc, name);
  if (value == nullptr) return {};
  if (!value->is_string()) fail(name, "must be a string");
  return value->get<std::string>();
}

// ninjs 2.0 writes version as a string ("1"); a number is accepted too.
std::uint32_t version_field(const json& doc) {
  const json* value = member(doc, "version");
  if (value == nullptr) return 0;
  if (value->is_number_unsigned()) return value->get<std::uint32_t>();
  if (!value->is_string()) fail("version", "must be a string of digits or a number");
  const auto text = value->get<std::string>();
  std::uint32_t version = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    fail("version", "'" + text + "' is not a whole number");
  }
  return version;
}

std::uint32_t urgency_field(const json& doc) {
  const json* value = member(doc, "urgency");
  if (value == nullptr) return 0;
  if (!value->is_number_integer() || value->get<long long>() < 0 || value->get<long long>() > 9) {
    fail("urgency", "must be a whole number from 1 to 9");
  }
  return value->get<std::uint32_t>();
}

void timestamp_field(const json& doc, const char* name, google::protobuf::Timestamp* out) {
  const auto text = string_field(doc, name);
  if (text.empty()) return;
  if (!google::protobuf::util::TimeUtil::FromString(text, out)) {
    fail(name, "'" + text + "' is not an RFC 3339 date-time");
  }
}

// The value of the array element with the wanted role, else of the first element.
std::string role_value(const json& doc, const char* name, std::string_view role) {
  const json* items = member(doc, name);
  if (items == nullptr) return {};
  if (!items->is_array()) fail(name, "must be an array");
  const json* chosen = nullptr;
  for (const auto& item : *items) {
    if (!item.is_object()) fail(name, "must hold objects");
    if (chosen == nullptr ||
        (item.value("role", "") == role && chosen->value("role", "") != role)) {
      chosen = &item;
    }
  }
  if (chosen == nullptr) return {};
  const auto value = chosen->find("value");
  if (value == chosen->end()) return {};
  if (!value->is_string()) fail(std::string(name) + ".value", "must be a string");
  return value->get<std::string>();
}

v1::PubStatus pubstatus_field(const json& doc) {
  const auto text = string_field(doc, "pubstatus");
  if (text.empty() || text == "usable") return v1::PUB_STATUS_USABLE;
  if (text == "withheld") return v1::PUB_STATUS_WITHHELD;
  if (text == "canceled") return v1::PUB_STATUS_CANCELED;
  fail("pubstatus", "'" + text + "' is not usable, withheld or canceled");
}

std::string source_field(const json& doc) {
  if (const json* sources = member(doc, "infosources"); sources != nullptr) {
    if (!sources->is_array()) fail("infosources", "must be an array");
    if (!sources->empty() && sources->front().is_object()) {
      return sources->front().value("name", "");
    }
  }
  return string_field(doc, "copyrightholder");
}

std::string canonical_url(const json& doc) {
  const json* links = member(doc, "links");
  if (links == nullptr) return {};
  if (!links->is_array()) fail("links", "must be an array");
  for (const auto& link : *links) {
    if (link.is_object() && link.value("rel", "") == "canonical") return link.value("href", "");
  }
  return {};
}

// ninjs subjects: objects with name, code, uri and rel (the rest, such as relevance, dropped).
void subjects_field(const json& doc, v1::Article& article) {
  const json* subjects = member(doc, "subjects");
  if (subjects == nullptr) return;
  if (!subjects->is_array()) fail("subjects", "must be an array of objects");
  std::size_t index = 0;
  for (const auto& item : *subjects) {
    const auto at = "subjects[" + std::to_string(index++) + "]";
    if (!item.is_object()) fail(at, "must be an object");
    const auto text = [&](const char* name) -> std::string {
      const json* value = member(item, name);
      if (value == nullptr) return {};
      if (!value->is_string()) fail(at + "." + name, "must be a string");
      return value->get<std::string>();
    };
    auto& subject = *article.add_subjects();
    // ninjs 2.0 names a subject's code `literal`; `code` is read too, and wins.
    subject.set_code(text("code"));
    if (subject.code().empty()) subject.set_code(text("literal"));
    subject.set_name(text("name"));
    subject.set_uri(text("uri"));
    subject.set_rel(text("rel"));
  }
}

}  // namespace

v1::Article article_from_ninjs(std::string_view text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1E999
    throw NinjsError(std::string("not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) throw NinjsError("a ninjs document must be a JSON object");

  v1::Article article;
  try {
    article.set_id(string_field(doc, "uri"));
    article.set_version(version_field(doc));
    article.set_headline(role_value(doc, "headlines", "main"));
    if (article.headline().empty()) article.set_headline(string_field(doc, "headline"));
    article.set_summary(role_value(doc, "descriptions", "summary"));
    article.set_body(role_value(doc, "bodies", "main"));
    if (article.body().empty()) article.set_body(string_field(doc, "body_text"));
    article.set_language(string_field(doc, "language"));
    article.set_urgency(urgency_field(doc));
    article.set_byline(string_field(doc, "by"));
    article.set_source(source_field(doc));
    article.set_url(canonical_url(doc));
    article.set_ednote(string_field(doc, "ednote"));
    article.set_located(string_field(doc, "located"));
    article.set_pubstatus(pubstatus_field(doc));
    timestamp_field(doc, "firstcreated", article.mutable_first_created());
    timestamp_field(doc, "versioncreated", article.mutable_version_created());
    timestamp_field(doc, "embargoed", article.mutable_embargoed());
    article.set_type(string_field(doc, "type"));
    subjects_field(doc, article);
    if (const json* keywords = member(doc, "keywords"); keywords != nullptr) {
      if (!keywords->is_array()) fail("keywords", "must be an array of strings");
      for (const auto& keyword : *keywords) {
        if (!keyword.is_string()) fail("keywords", "must be an array of strings");
        article.add_keywords(keyword.get<std::string>());
      }
    }
  } catch (const json::exception& e) {
    throw NinjsError(std::string("ninjs document has an unexpected shape: ") + e.what());
  }
  if (article.id().empty()) throw NinjsError("ninjs field 'uri' is required");
  return article;
}

}  // namespace kabar
