// A streaming decoder of zlib streams (RFC 1950 around RFC 1951 DEFLATE), for the sections of a
// .nnz file that the encoder compresses with zlib (metadata, file layouts, the kept bytes of
// model files). The core has no third-party dependency, so it carries its own inflate: table-
// driven Huffman decoding, a 32 KiB history, bounded output, every code and distance checked.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "common/byte_io.hpp"

namespace nnz {

class ZlibInflater {
 public:
  // Decodes `stream`; more than `max_output` bytes of output fail with ErrorCode::limit_exceeded.
  ZlibInflater(ByteSpan stream, uint64_t max_output);

  // Writes up to n decoded bytes to out and returns how many; fewer than n only at the end of
  // the stream, whose Adler-32 is then checked.
  size_t read(uint8_t* out, size_t n);
  bool finished() const { return state_ == State::done; }
  uint64_t produced() const { return produced_; }

  // The whole output of a stream (at most max_output bytes).
  static std::vector<uint8_t> inflate_all(ByteSpan stream, uint64_t max_output);

  // One Huffman code, decodable by table: entry = symbol << 4 | length (length 0: longer code,
  // decoded canonically from `count`/`sorted`).
  struct Code {
    static constexpr int kTableBits = 10;
    std::array<uint16_t, 1 << kTableBits> table{};
    std::array<uint16_t, 16> count{};  // codes of each length
    std::vector<uint16_t> sorted;      // symbols by code
  };

 private:
  enum class State { block_header, stored, huffman, done };

  uint32_t bits(int n);
  int decode(const Code& code);
  void start_block();
  void read_dynamic_codes();
  void finish_stream();
  void emit(uint8_t byte, uint8_t* out, size_t& k);
  void update_adler(const uint8_t* p, size_t n);

  ByteSpan in_;
  size_t pos_ = 0;
  uint64_t bitbuf_ = 0;
  int bitcount_ = 0;
  uint64_t max_output_;
  uint64_t produced_ = 0;
  State state_ = State::block_header;
  bool last_block_ = false;
  uint64_t stored_left_ = 0;
  uint32_t match_left_ = 0;  // a copy that did not fit in the last read
  uint32_t match_distance_ = 0;
  uint32_t adler_a_ = 1, adler_b_ = 0;
  std::vector<uint8_t> history_;  // the last 32 KiB of output, as a ring
  size_t history_pos_ = 0;
  Code literals_, distances_;
};

}  // namespace nnz
