#include "net/codec.hpp"

#include "kabar/broker/frames.hpp"
#include "kabar/version.hpp"

namespace kabar::broker {

namespace {

class ProtoCodec final : public Codec {
 public:
  ProtoCodec() : Codec(true) {}
  [[nodiscard]] std::string_view subprotocol() const override { return kSubprotocol; }
  [[nodiscard]] bool text() const override { return false; }

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

 private:
  [[nodiscard]] std::string_view encoded_delivery(const DeliveryBatch& batch,
                                                  const DeliveryRef& ref) const override {
    return {batch.bytes.data() + ref.begin, ref.size};  // not called: uses_batch_bytes
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

const Codec* choose_codec(std::string_view offered) {
  while (!offered.empty()) {
    const auto comma = offered.find(',');
    if (trimmed(offered.substr(0, comma)) == proto_codec().subprotocol()) return &proto_codec();
    if (comma == std::string_view::npos) break;
    offered.remove_prefix(comma + 1);
  }
  return nullptr;
}

}  // namespace kabar::broker
