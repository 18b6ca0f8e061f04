// kabar-fuzz-seeds FIXTURES_DIR CORPUS_DIR: the seed corpora, made from the real ninjs fixtures:
// CORPUS_DIR/ninjs/ gets each fixture as is; CORPUS_DIR/client_message/ gets every request
// kind a client sends, publishes carrying each fixture's article; CORPUS_DIR/jwt/ gets tokens
// (valid, expired, unsigned, wrong algorithm) whose claims carry the fixtures' topics;
// CORPUS_DIR/routes/ a routing table, CORPUS_DIR/frame_reader/ WebSocket frames.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "kabar/common/ninjs.hpp"
#include "kabar/v1/kabar.pb.h"
#include "tokens.hpp"

namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: kabar-fuzz-seeds FIXTURES_DIR CORPUS_DIR\n";
    return 2;
  }
  const fs::path fixtures = argv[1];
  const fs::path corpus = argv[2];
  fs::create_directories(corpus / "ninjs");
  fs::create_directories(corpus / "client_message");
  fs::create_directories(corpus / "jwt");
  fs::create_directories(corpus / "routes");
  fs::create_directories(corpus / "frame_reader");
  // Frames as a client sends them (masked): a message, a fragmented one with a ping between its
  // parts, a close; the first byte is the size of the reads (see frame_reader_fuzz.cpp).
  const auto frame = [](unsigned char first, const std::string& payload) {
    std::string out{static_cast<char>(first), static_cast<char>(0x80 | payload.size())};
    const std::string key = "\x01\x02\x03\x04";
    out += key;
    for (std::size_t i = 0; i < payload.size(); ++i)
      out.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
    return out;
  };
  write(corpus / "frame_reader" / "messages", "\x07" + frame(0x82, "\x08\x01\x12\x00") +
                                                  frame(0x01, "frag") + frame(0x89, "p") +
                                                  frame(0x80, "ment") +
                                                  frame(0x88,
                                                        "\x03\xe8"
                                                        "bye"));
  write(corpus / "routes" / "table.toml",
        "# IPTC media topics -> topics\n[subjects]\n\"medtop:20000053\" = [\"defense\"]\n"
        "\"armed conflict\" = [\"defense\", \"international\"]\n"
        "\"http://cv.iptc.org/newscodes/mediatopic/11000000\" = \"politics\"\n");
  // ninjs with subjects, type, an embargo and a rendition, which the fixtures do not have.
  write(corpus / "ninjs" / "subjects.json",
        R"({"uri": "urn:seed:subjects", "type": "text", "headlines": [{"role": "main", )"
        R"("value": "h"}], "subjects": [{"code": "medtop:20000053", "name": "armed conflict", )"
        R"("rel": "about", "uri": "http://cv.iptc.org/newscodes/mediatopic/20000053"}, )"
        R"({"name": "Kim Jong Un", "rel": "keyword"}], "embargoed": "2030-01-01T00:00:00Z", )"
        R"("renditions": [{"name": "canonical", "href": "https://example.com/1"}]})");
  int n = 0;
  auto message = [&](const kabar::v1::ClientMessage& m) {
    write(corpus / "client_message" / ("seed-" + std::to_string(n++)), m.SerializeAsString());
  };
  for (const auto& entry : fs::directory_iterator(fixtures)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    write(corpus / "ninjs" / entry.path().filename(), text.str());
    kabar::v1::ClientMessage publish;
    publish.set_id(7);
    *publish.mutable_publish()->mutable_article() = kabar::article_from_ninjs(text.str());
    publish.mutable_publish()->mutable_article()->add_topics("international");
    message(publish);
  }
  kabar::v1::ClientMessage m;
  m.mutable_connect()->set_client_name("cms");
  message(m);
  m.mutable_subscribe()->set_topic("defense.>");
  m.mutable_subscribe()->mutable_filter()->set_max_urgency(2);
  m.mutable_subscribe()->mutable_filter()->add_languages("id");
  message(m);
  m.mutable_subscribe()->set_topic("international");
  m.mutable_subscribe()->mutable_since()->set_offset(3);
  m.mutable_subscribe()->mutable_since()->set_epoch("3f9c0d1e2a4b5c6d");
  message(m);
  m.mutable_subscribe()->clear_since();
  m.mutable_subscribe()->set_topic("defense.*");
  auto* position = m.mutable_subscribe()->mutable_resume()->add_positions();
  position->set_topic("defense.asia");
  position->mutable_position()->set_offset(9);
  message(m);
  m.mutable_unsubscribe()->set_topic("defense.>");
  message(m);
  m.mutable_ping();
  message(m);
  const std::string secret = "an HS256 secret of at least 32 bytes, for fuzzing";
  auto claims = kabar::test::grants(4102444800, {"international", "defense.>"}, {">"});
  claims["iss"] = "issuer";
  claims["aud"] = {"kabar"};
  auto expired = claims;
  expired["exp"] = 1000;
  int t = 0;
  for (const auto& token :
       {kabar::test::sign_hs256(claims, secret), kabar::test::sign_hs256(expired, secret),
        kabar::test::unsigned_token(claims, "none"),
        kabar::test::sign_hs256(claims, secret, "RS256")}) {
    write(corpus / "jwt" / ("seed-" + std::to_string(t++)), token);
  }
  std::cout << "kabar-fuzz-seeds: " << n << " client messages, ninjs fixtures in " << corpus
            << "\n";
  return 0;
}
