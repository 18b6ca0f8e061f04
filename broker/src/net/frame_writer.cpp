#include "net/frame_writer.hpp"

#include <algorithm>
#include <climits>

namespace kabar::broker {

msghdr FrameWriter::lay_out(const std::vector<Chunk>& chunks, bool text, bool merge_messages) {
  headers_.clear();
  headers_.reserve(chunks.size());  // never reallocated below: iovecs point into it
  iovecs_.clear();
  for (std::size_t begin = 0, end = 0; begin < chunks.size(); begin = end) {
    end = SendQueue::message_end(chunks, begin, merge_messages);
    if (chunks[begin].is_frame) {  // built whole by the session
      iovecs_.push_back({const_cast<char*>(chunks[begin].data), chunks[begin].size});
      continue;
    }
    std::size_t payload = 0;
    for (auto i = begin; i < end; ++i) payload += chunks[i].size;
    auto& header = headers_.emplace_back();
    const auto header_size = write_frame_header(header, payload, text);
    iovecs_.push_back({header.data(), header_size});
    for (auto i = begin; i < end; ++i) {
      // sendmsg only reads through it: the const is dropped for iovec's sake alone.
      iovecs_.push_back({const_cast<char*>(chunks[i].data), chunks[i].size});
    }
  }
  msghdr message{};
  message.msg_iov = iovecs_.data();
  message.msg_iovlen = std::min<std::size_t>(iovecs_.size(), IOV_MAX);  // more: a rest
  return message;
}

msghdr FrameWriter::lay_out_bytes(std::string_view bytes) {
  iovecs_.assign(1, {const_cast<char*>(bytes.data()), bytes.size()});
  msghdr message{};
  message.msg_iov = iovecs_.data();
  message.msg_iovlen = 1;
  return message;
}

void FrameWriter::copy_to(std::string& out) const {
  out.clear();
  out.reserve(total());
  for (const auto& part : iovecs_)
    out.append(static_cast<const char*>(part.iov_base), part.iov_len);
}

std::size_t FrameWriter::total() const {
  std::size_t bytes = 0;
  for (const auto& part : iovecs_) bytes += part.iov_len;
  return bytes;
}

const std::vector<boost::asio::const_buffer>& FrameWriter::rest(std::size_t sent) {
  buffers_.clear();
  for (const auto& part : iovecs_) {
    if (sent >= part.iov_len) {
      sent -= part.iov_len;
      continue;
    }
    buffers_.emplace_back(static_cast<const char*>(part.iov_base) + sent, part.iov_len - sent);
    sent = 0;
  }
  return buffers_;
}

}  // namespace kabar::broker
