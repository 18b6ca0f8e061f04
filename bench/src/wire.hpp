#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "kabar/v1/kabar.pb.h"

/// The bench's view of kabar.v1 bytes: only the fields it measures, read straight off the wire
/// format without building messages, so that reading is not what the bench measures. Its varint
/// and field decoding is its own on purpose, apart from the broker's encoder (frames.cpp): a
/// load generator that checks offsets must read the broker's bytes as any client would, not
/// share the code that wrote them.
namespace kabar::bench {

struct DeliveryView {
  std::string_view topic;
  std::uint64_t offset = 0;
  std::int64_t sent_ns = 0;  ///< Article.first_created, where the publisher put its send time
};

struct ReplyView {
  std::uint32_t id = 0;
  bool error = false;
  std::string_view error_message;
  bool duplicate = false;
};

/// Calls on_delivery(const DeliveryView&) for each delivery and on_reply(const ReplyView&) for
/// the reply of one ServerMessage frame. False when the bytes are not a ServerMessage.
template <typename OnDelivery, typename OnReply>
bool read_server_message(std::string_view frame, OnDelivery&& on_delivery, OnReply&& on_reply);

/// A publish request whose article carries `sent_ns` and a body of `payload` bytes. Its id
/// is "urn:kabar:bench:RUN:ID": unique per run, or a durable broker would see duplicates.
std::string encode_publish(std::uint32_t id, std::string_view run, const std::string& topic,
                           std::size_t payload, std::int64_t sent_ns);
/// The same article alone: the body of a POST /v1/articles.
std::string encode_article(std::uint32_t id, std::string_view run, const std::string& topic,
                           std::size_t payload, std::int64_t sent_ns);
std::string encode_connect(std::uint32_t id, const std::string& name);
/// With `from_start`, asks to recover everything stored first (since offset 0).
std::string encode_subscribe(std::uint32_t id, const std::string& topic, bool from_start = false);

/// The same requests in protobuf's JSON mapping, for kabar.v1.json.
std::string json_connect(std::uint32_t id, const std::string& name);
std::string json_subscribe(std::uint32_t id, const std::string& topic, bool from_start = false);

/// Reads one kabar.v1.json text frame as read_server_message does a binary one. Like a browser it
/// takes the broker's text as it comes, but it looks up only the values it measures by their
/// keys instead of parsing every field: the bench's articles carry no such key in their text.
/// False when the frame is neither a delivery nor a reply.
bool read_json_server_message(std::string_view frame,
                              const std::function<void(const DeliveryView&)>& on_delivery,
                              const std::function<void(const ReplyView&)>& on_reply);

// ---------------------------------------------------------------------------------------------

namespace wire {

struct Reader {
  const unsigned char* p;
  const unsigned char* end;

  bool varint(std::uint64_t& value) {
    value = 0;
    for (unsigned shift = 0; shift < 64 && p < end; shift += 7) {
      const auto byte = *p++;
      value |= std::uint64_t{byte & 0x7fU} << shift;
      if ((byte & 0x80U) == 0) return true;
    }
    return false;
  }
  bool bytes(std::string_view& out) {
    std::uint64_t size = 0;
    if (!varint(size) || size > static_cast<std::uint64_t>(end - p)) return false;
    out = {reinterpret_cast<const char*>(p), static_cast<std::size_t>(size)};
    p += size;
    return true;
  }
  // Calls field(number, wire_type, *this) for each field; the callee reads or skips its value.
  template <typename Field>
  bool each(Field&& field) {
    while (p < end) {
      std::uint64_t tag = 0;
      if (!varint(tag)) return false;
      if (!field(static_cast<std::uint32_t>(tag >> 3), static_cast<unsigned>(tag & 7U))) {
        return false;
      }
    }
    return true;
  }
  bool skip(unsigned wire_type) {
    std::uint64_t ignored = 0;
    std::string_view skipped;
    switch (wire_type) {
      case 0:
        return varint(ignored);
      case 1:
        return (p += 8) <= end;
      case 2:
        return bytes(skipped);
      case 5:
        return (p += 4) <= end;
      default:
        return false;
    }
  }
};

inline Reader reader(std::string_view bytes) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  return {data, data + bytes.size()};
}

inline bool timestamp_ns(std::string_view bytes, std::int64_t& ns) {
  std::uint64_t seconds = 0, nanos = 0;
  auto r = reader(bytes);
  const bool ok = r.each([&](std::uint32_t field, unsigned type) {
    if (field == 1 && type == 0) return r.varint(seconds);
    if (field == 2 && type == 0) return r.varint(nanos);
    return r.skip(type);
  });
  ns = static_cast<std::int64_t>(seconds) * 1'000'000'000 + static_cast<std::int64_t>(nanos);
  return ok;
}

}  // namespace wire

template <typename OnDelivery, typename OnReply>
bool read_server_message(std::string_view frame, OnDelivery&& on_delivery, OnReply&& on_reply) {
  auto r = wire::reader(frame);
  return r.each([&](std::uint32_t field, unsigned type) {
    std::string_view body;
    if (type != 2) return r.skip(type);
    if (!r.bytes(body)) return false;
    auto m = wire::reader(body);
    if (field == 2) {  // Delivery
      DeliveryView delivery;
      const bool ok = m.each([&](std::uint32_t f, unsigned t) {
        std::string_view value;
        if (f == 1 && t == 2) return m.bytes(delivery.topic);
        if (f == 2 && t == 0) return m.varint(delivery.offset);
        if (f == 4 && t == 2) {  // Article: only first_created (13)
          if (!m.bytes(value)) return false;
          auto a = wire::reader(value);
          return a.each([&](std::uint32_t af, unsigned at) {
            std::string_view ts;
            if (af == 13 && at == 2) return a.bytes(ts) && wire::timestamp_ns(ts, delivery.sent_ns);
            return a.skip(at);
          });
        }
        return m.skip(t);
      });
      if (ok) on_delivery(delivery);
      return ok;
    }
    if (field == 1) {  // Reply
      ReplyView reply;
      std::uint64_t id = 0;
      const bool ok = m.each([&](std::uint32_t f, unsigned t) {
        std::string_view value;
        if (f == 1 && t == 0) return m.varint(id);
        if (f == 2 && t == 2) {
          reply.error = true;
          if (!m.bytes(value)) return false;
          auto e = wire::reader(value);
          return e.each([&](std::uint32_t ef, unsigned et) {
            if (ef == 2 && et == 2) return e.bytes(reply.error_message);
            return e.skip(et);
          });
        }
        if (f == 6 && t == 2) {  // PublishResult.duplicate (4)
          if (!m.bytes(value)) return false;
          auto pr = wire::reader(value);
          return pr.each([&](std::uint32_t pf, unsigned pt) {
            std::uint64_t flag = 0;
            if (pf == 4 && pt == 0) {
              if (!pr.varint(flag)) return false;
              reply.duplicate = flag != 0;
              return true;
            }
            return pr.skip(pt);
          });
        }
        return m.skip(t);
      });
      reply.id = static_cast<std::uint32_t>(id);
      if (ok) on_reply(reply);
      return ok;
    }
    return true;
  });
}

}  // namespace kabar::bench
