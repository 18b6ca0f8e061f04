#include "kabar/common/ninjs.hpp"

#include <google/protobuf/util/time_util.h>

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

namespace kabar {
namespace {

using nlohmann::json;

constexpr std::string_view kCanonical = "canonical";
constexpr std::string_view kKeyword = "keyword";

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
  if (value->is_number_unsigned()) {
    if (value->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max()) {
      fail("version", "must be at most 4294967295");
    }
    return value->get<std::uint32_t>();
  }
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

// Absent, the field stays unset (so that it is written back absent, not as 1970).
void timestamp_field(const json& doc, const char* name, v1::Article& article,
                     google::protobuf::Timestamp* (v1::Article::*field)()) {
  const auto text = string_field(doc, name);
  if (text.empty()) return;
  if (!google::protobuf::util::TimeUtil::FromString(text, (article.*field)())) {
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

// The href of the first object of `name` whose `key` is "canonical".
std::string canonical_href(const json& doc, const char* name, const char* key) {
  const json* items = member(doc, name);
  if (items == nullptr) return {};
  if (!items->is_array()) fail(name, "must be an array");
  for (const auto& item : *items) {
    if (!item.is_object() || item.value(key, "") != kCanonical) continue;
    const json* href = member(item, "href");
    if (href == nullptr) return {};
    if (!href->is_string()) fail(std::string(name) + ".href", "must be a string");
    return href->get<std::string>();
  }
  return {};
}

// links[rel=canonical] (before ninjs 2.0), else the rendition named canonical (what kabar writes).
std::string canonical_url(const json& doc) {
  auto url = canonical_href(doc, "links", "rel");
  return url.empty() ? canonical_href(doc, "renditions", "name") : url;
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
    v1::Subject subject;
    // ninjs 2.0 names a subject's code `literal`; `code` is read too, and wins.
    subject.set_code(text("code"));
    if (subject.code().empty()) subject.set_code(text("literal"));
    subject.set_name(text("name"));
    subject.set_uri(text("uri"));
    subject.set_rel(text("rel"));
    if (subject.rel() == kKeyword && subject.code().empty() && subject.uri().empty()) {
      article.add_keywords(subject.name());  // how ninjs_from_article writes a keyword
    } else {
      *article.add_subjects() = std::move(subject);
    }
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
    timestamp_field(doc, "firstcreated", article, &v1::Article::mutable_first_created);
    timestamp_field(doc, "versioncreated", article, &v1::Article::mutable_version_created);
    timestamp_field(doc, "embargoed", article, &v1::Article::mutable_embargoed);
    article.set_type(string_field(doc, "type"));
    if (const json* keywords = member(doc, "keywords"); keywords != nullptr) {
      if (!keywords->is_array()) fail("keywords", "must be an array of strings");
      for (const auto& keyword : *keywords) {
        if (!keyword.is_string()) fail("keywords", "must be an array of strings");
        article.add_keywords(keyword.get<std::string>());
      }
    }
    subjects_field(doc, article);
  } catch (const json::exception& e) {
    throw NinjsError(std::string("ninjs document has an unexpected shape: ") + e.what());
  }
  if (article.id().empty()) throw NinjsError("ninjs field 'uri' is required");
  return article;
}

namespace {

// Written in the order of the ninjs schema's properties.
using Document = nlohmann::ordered_json;

// ninjs 2.0 text blocks (headlines, descriptions, bodies): one object with its role.
void text_block(Document& doc, const char* name, std::string_view role, const std::string& value) {
  if (!value.empty()) doc[name] = Document::array({{{"role", role}, {"value", value}}});
}

void text_field(Document& doc, const char* name, const std::string& value) {
  if (!value.empty()) doc[name] = value;
}

void timestamp_text(Document& doc, const char* name, bool present,
                    const google::protobuf::Timestamp& time) {
  if (present) doc[name] = google::protobuf::util::TimeUtil::ToString(time);
}

const char* pubstatus_text(v1::PubStatus status) {
  switch (status) {
    case v1::PUB_STATUS_WITHHELD:
      return "withheld";
    case v1::PUB_STATUS_CANCELED:
      return "canceled";
    default:
      return "usable";
  }
}

}  // namespace

std::string ninjs_from_article(const v1::Article& article) {
  Document doc = Document::object();
  doc["standard"] = {{"name", "ninjs"},
                     {"version", "2.0"},
                     {"schema", "http://www.iptc.org/std/ninjs/ninjs-schema_2.0.json"}};
  doc["uri"] = article.id();
  text_field(doc, "type", article.type());
  if (article.version() != 0) doc["version"] = std::to_string(article.version());
  timestamp_text(doc, "firstcreated", article.has_first_created(), article.first_created());
  timestamp_text(doc, "versioncreated", article.has_version_created(), article.version_created());
  timestamp_text(doc, "embargoed", article.has_embargoed(), article.embargoed());
  doc["pubstatus"] = pubstatus_text(article.pubstatus());
  if (article.urgency() != 0) doc["urgency"] = article.urgency();
  text_field(doc, "language", article.language());
  text_field(doc, "ednote", article.ednote());
  text_block(doc, "headlines", "main", article.headline());
  text_block(doc, "descriptions", "summary", article.summary());
  text_block(doc, "bodies", "main", article.body());
  text_field(doc, "by", article.byline());
  text_field(doc, "located", article.located());
  if (!article.source().empty())
    doc["infosources"] = Document::array({{{"name", article.source()}}});
  Document subjects = Document::array();
  for (const auto& subject : article.subjects()) {
    Document item = Document::object();
    text_field(item, "name", subject.name());
    text_field(item, "rel", subject.rel());
    text_field(item, "uri", subject.uri());
    text_field(item, "literal", subject.code());
    subjects.push_back(std::move(item));
  }
  for (const auto& keyword : article.keywords()) {
    subjects.push_back({{"name", keyword}, {"rel", kKeyword}});
  }
  if (!subjects.empty()) doc["subjects"] = std::move(subjects);
  if (!article.url().empty()) {
    doc["renditions"] = Document::array({{{"name", kCanonical}, {"href", article.url()}}});
  }
  // Stored strings are UTF-8 (protobuf checks it on parse); replace rather than throw if not.
  return doc.dump(-1, ' ', false, Document::error_handler_t::replace);
}

}  // namespace kabar
