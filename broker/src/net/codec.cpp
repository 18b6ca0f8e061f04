#include "net/codec.hpp"

#include <google/protobuf/util/json_util.h>

#include "kabar/broker/frames.hpp"
#include "kabar/version.hpp"

namespace kabar::broker {

namespace {

class ProtoCodec final : public Codec {
 public:
  ProtoCodec() : Codec(Encoding::kProtobuf) {}
  [[nodiscard]] std::string_view subprotocol() const override { return kSubprotocol; }
  [[nodiscard]] bool text() const override { return false; }
  [[nodiscard]] bool merges_messages() const override { return true; }

  [[nodiscard]] std::optional<DecodeError> decode(std::string_view payload, bool binary,
                                                  v1::ClientMessage& out) const override {
    if (!binary) {
      return DecodeError{
          .close = CloseCode::kUnsupportedData,
          .rejected = Rejected::kTextFrame,
          .reason = "text frames are not accepted on kabar.v1.proto: send binary protobuf"};
    }
    if (!out.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      return DecodeError{.close = CloseCode::kProtocolError,
                         .rejected = Rejected::kUnparsableFrame,
                         .reason = "frame is not a kabar.v1.ClientMessage"};
    }
    return std::nullopt;
  }

  [[nodiscard]] std::string encode(const v1::Reply& reply) const override {
    return encode_reply(reply);
  }

  [[nodiscard]] std::string encode_delivery(const DeliveryBatch& batch,
                                            const DeliveryRef& ref) const override {
    return batch.bytes.substr(ref.begin, ref.size);
  }
};

class JsonCodec final : public Codec {
 public:
  JsonCodec() : Codec(Encoding::kJson) {}
  [[nodiscard]] std::string_view subprotocol() const override { return kJsonSubprotocol; }
  [[nodiscard]] bool text() const override { return true; }
  [[nodiscard]] bool merges_messages() const override { return false; }

  [[nodiscard]] std::optional<DecodeError> decode(std::string_view payload, bool binary,
                                                  v1::ClientMessage& out) const override {
    if (binary) {
      return DecodeError{
          .close = CloseCode::kUnsupportedData,
          .rejected = Rejected::kBinaryFrame,
          .reason = "binary frames are not accepted on kabar.v1.json: send JSON text"};
    }
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;  // a misspelt field is an error, not silently nothing
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(payload.data(), payload.size()), &out, options);
    if (!status.ok()) {
      // A close reason holds at most 123 bytes.
      auto reason = "not a kabar.v1.ClientMessage in JSON: " + status.message().as_string();
      if (reason.size() > 120) reason.resize(120);
      return DecodeError{.close = CloseCode::kInvalidPayload,
                         .rejected = Rejected::kUnparsableFrame,
                         .reason = std::move(reason)};
    }
    return std::nullopt;
  }

  [[nodiscard]] std::string encode(const v1::Reply& reply) const override {
    return encode_json_reply(reply);
  }

  [[nodiscard]] std::string encode_delivery(const DeliveryBatch& batch,
                                            const DeliveryRef& ref) const override {
    v1::ServerMessage message;
    std::string json;
    if (!message.ParseFromArray(batch.bytes.data() + ref.begin, static_cast<int>(ref.size)) ||
        !google::protobuf::util::MessageToJsonString(message, &json).ok()) {
      return {};
    }
    return json;
  }
};

std::string_view trimmed(std::string_view item) {
  while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
  while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
  return item;
}

}  // namespace

const Codec& proto_codec() {
  static const ProtoCodec codec;
  return codec;
}

const Codec& json_codec() {
  static const JsonCodec codec;
  return codec;
}

const Codec* choose_codec(std::string_view offered) {
  while (!offered.empty()) {
    const auto comma = offered.find(',');
    const auto item = trimmed(offered.substr(0, comma));
    for (const auto* codec : {&proto_codec(), &json_codec()}) {
      if (item == codec->subprotocol()) return codec;
    }
    if (comma == std::string_view::npos) break;
    offered.remove_prefix(comma + 1);
  }
  return nullptr;
}

}  // namespace kabar::broker
