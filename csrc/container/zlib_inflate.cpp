#include "container/zlib_inflate.hpp"

#include <algorithm>
#include <string>

#include "common/error.hpp"

namespace nnz {
namespace {

constexpr size_t kWindow = 32768;
constexpr uint32_t kAdlerModulus = 65521;

// RFC 1951 3.2.5: base lengths and distances, and their extra bits.
constexpr uint16_t kLengthBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr uint8_t kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr uint16_t kDistanceBase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                        193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr uint8_t kDistanceExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                        6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
constexpr uint8_t kCodeLengthOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

uint32_t reverse_bits(uint32_t code, int length) {
  uint32_t out = 0;
  for (int i = 0; i < length; ++i) out |= ((code >> i) & 1u) << (length - 1 - i);
  return out;
}

// Builds a canonical code from code lengths (0: symbol unused). Over-subscribed sets are corrupt;
// incomplete ones are allowed (as zlib allows them), their unused codes fail when read.
void build_code(ZlibInflater::Code& code, const uint8_t* lengths, int n) {
  using Code = ZlibInflater::Code;
  code.count.fill(0);
  code.table.fill(0);
  for (int s = 0; s < n; ++s) code.count[lengths[s]]++;
  code.count[0] = 0;
  int left = 1;
  for (int len = 1; len < 16; ++len) {
    left = 2 * left - code.count[len];
    NNZ_CHECK(left >= 0, corrupt, "zlib: over-subscribed Huffman code");
  }
  std::array<uint16_t, 16> offsets{};
  for (int len = 1; len < 15; ++len) offsets[len + 1] = static_cast<uint16_t>(offsets[len] + code.count[len]);
  code.sorted.assign(static_cast<size_t>(n), 0);
  for (int s = 0; s < n; ++s)
    if (lengths[s]) code.sorted[offsets[lengths[s]]++] = static_cast<uint16_t>(s);
  // The table: every code of at most kTableBits bits, indexed by its next bits (LSB first).
  uint32_t next = 0;
  size_t index = 0;
  for (int len = 1; len < 16; ++len) {
    for (int k = 0; k < code.count[len]; ++k, ++next, ++index) {
      if (len > Code::kTableBits) continue;
      const uint32_t reversed = reverse_bits(next, len);
      for (uint32_t fill = reversed; fill < (1u << Code::kTableBits); fill += 1u << len)
        code.table[fill] = static_cast<uint16_t>(code.sorted[index] << 4 | len);
    }
    next <<= 1;
  }
}

}  // namespace

ZlibInflater::ZlibInflater(ByteSpan stream, uint64_t max_output)
    : in_(stream), max_output_(max_output), history_(kWindow) {
  NNZ_CHECK(in_.size >= 6, corrupt, "zlib: truncated stream");
  const uint32_t cmf = in_.data[0], flg = in_.data[1];
  NNZ_CHECK((cmf & 0x0F) == 8 && (cmf >> 4) <= 7 && (cmf * 256 + flg) % 31 == 0, corrupt, "zlib: bad header");
  NNZ_CHECK((flg & 0x20) == 0, unsupported, "zlib: preset dictionaries are not supported");
  pos_ = 2;
}

uint32_t ZlibInflater::bits(int n) {
  while (bitcount_ < n) {
    NNZ_CHECK(pos_ < in_.size, corrupt, "zlib: truncated stream");
    bitbuf_ |= static_cast<uint64_t>(in_.data[pos_++]) << bitcount_;
    bitcount_ += 8;
  }
  const uint32_t v = static_cast<uint32_t>(bitbuf_ & ((uint64_t{1} << n) - 1));
  bitbuf_ >>= n;
  bitcount_ -= n;
  return v;
}

int ZlibInflater::decode(const Code& code) {
  // Fill the buffer as far as the input goes (a code near the end may need fewer bits).
  while (bitcount_ <= 56 && pos_ < in_.size) {
    bitbuf_ |= static_cast<uint64_t>(in_.data[pos_++]) << bitcount_;
    bitcount_ += 8;
  }
  const uint16_t entry = code.table[bitbuf_ & ((1u << Code::kTableBits) - 1)];
  const int length = entry & 15;
  if (length != 0) {
    NNZ_CHECK(length <= bitcount_, corrupt, "zlib: truncated stream");
    bitbuf_ >>= length;
    bitcount_ -= length;
    return entry >> 4;
  }
  // A longer code (or an unused one): canonical decoding, one bit at a time.
  int first = 0, index = 0, value = 0;
  for (int len = 1; len < 16; ++len) {
    value |= static_cast<int>(bits(1));
    const int count = code.count[len];
    if (value - first < count) return code.sorted[static_cast<size_t>(index + value - first)];
    index += count;
    first = (first + count) << 1;
    value <<= 1;
  }
  fail(ErrorCode::corrupt, "zlib: invalid Huffman code");
}

void ZlibInflater::read_dynamic_codes() {
  const int nlen = static_cast<int>(bits(5)) + 257, ndist = static_cast<int>(bits(5)) + 1;
  const int ncode = static_cast<int>(bits(4)) + 4;
  NNZ_CHECK(nlen <= 286 && ndist <= 30, corrupt, "zlib: too many length or distance codes");
  uint8_t lengths[320] = {};
  for (int i = 0; i < ncode; ++i) lengths[kCodeLengthOrder[i]] = static_cast<uint8_t>(bits(3));
  Code lencode;
  build_code(lencode, lengths, 19);
  std::fill(std::begin(lengths), std::end(lengths), uint8_t{0});
  for (int i = 0; i < nlen + ndist;) {
    const int symbol = decode(lencode);
    if (symbol < 16) {
      lengths[i++] = static_cast<uint8_t>(symbol);
      continue;
    }
    uint8_t repeat_value = 0;
    int repeat = 0;
    if (symbol == 16) {
      NNZ_CHECK(i > 0, corrupt, "zlib: repeat with no previous length");
      repeat_value = lengths[i - 1];
      repeat = 3 + static_cast<int>(bits(2));
    } else {
      repeat = symbol == 17 ? 3 + static_cast<int>(bits(3)) : 11 + static_cast<int>(bits(7));
    }
    NNZ_CHECK(i + repeat <= nlen + ndist, corrupt, "zlib: code lengths overrun");
    while (repeat--) lengths[i++] = repeat_value;
  }
  NNZ_CHECK(lengths[256] != 0, corrupt, "zlib: no end-of-block code");
  build_code(literals_, lengths, nlen);
  build_code(distances_, lengths + nlen, ndist);
}

void ZlibInflater::start_block() {
  last_block_ = bits(1) != 0;
  const uint32_t type = bits(2);
  if (type == 0) {
    bits(bitcount_ & 7);  // to a byte boundary
    const uint32_t len = bits(16), nlen = bits(16);
    NNZ_CHECK((len ^ 0xFFFFu) == nlen, corrupt, "zlib: stored block length check failed");
    stored_left_ = len;
    state_ = State::stored;
  } else if (type == 1) {
    uint8_t lengths[288 + 30];
    std::fill(lengths, lengths + 144, uint8_t{8});
    std::fill(lengths + 144, lengths + 256, uint8_t{9});
    std::fill(lengths + 256, lengths + 280, uint8_t{7});
    std::fill(lengths + 280, lengths + 288, uint8_t{8});
    std::fill(lengths + 288, lengths + 318, uint8_t{5});
    build_code(literals_, lengths, 288);
    build_code(distances_, lengths + 288, 30);
    state_ = State::huffman;
  } else {
    NNZ_CHECK(type == 2, corrupt, "zlib: invalid block type");
    read_dynamic_codes();
    state_ = State::huffman;
  }
}

void ZlibInflater::emit(uint8_t byte, uint8_t* out, size_t& k) {
  NNZ_CHECK(produced_ < max_output_, limit_exceeded,
            "zlib: the section inflates to more than " + std::to_string(max_output_) + " bytes");
  out[k++] = byte;
  history_[history_pos_] = byte;
  history_pos_ = (history_pos_ + 1) & (kWindow - 1);
  ++produced_;
}

void ZlibInflater::update_adler(const uint8_t* p, size_t n) {
  while (n > 0) {
    const size_t block = std::min<size_t>(n, 5552);  // no overflow of 32 bits before the modulo
    for (size_t i = 0; i < block; ++i) {
      adler_a_ += p[i];
      adler_b_ += adler_a_;
    }
    adler_a_ %= kAdlerModulus;
    adler_b_ %= kAdlerModulus;
    p += block;
    n -= block;
  }
}

void ZlibInflater::finish_stream() {
  bits(bitcount_ & 7);
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored = stored << 8 | bits(8);
  NNZ_CHECK(stored == (adler_b_ << 16 | adler_a_), checksum, "zlib: Adler-32 mismatch (the section is damaged)");
  NNZ_CHECK(bitcount_ == 0 && pos_ == in_.size, corrupt, "zlib: trailing bytes after the stream");
  state_ = State::done;
}

size_t ZlibInflater::read(uint8_t* out, size_t n) {
  size_t k = 0, summed = 0;
  while (k < n && state_ != State::done) {
    if (match_left_ > 0) {
      for (; match_left_ > 0 && k < n; --match_left_)
        emit(history_[(history_pos_ - match_distance_) & (kWindow - 1)], out, k);
      continue;
    }
    if (state_ == State::block_header) {
      start_block();
    } else if (state_ == State::stored) {
      for (; stored_left_ > 0 && k < n; --stored_left_) emit(static_cast<uint8_t>(bits(8)), out, k);
      if (stored_left_ == 0) state_ = State::block_header;
    } else {
      const int symbol = decode(literals_);
      if (symbol < 256) {
        emit(static_cast<uint8_t>(symbol), out, k);
        continue;
      }
      if (symbol == 256) {
        state_ = State::block_header;
      } else {
        NNZ_CHECK(symbol < 286, corrupt, "zlib: invalid length code");
        const int l = symbol - 257;
        match_left_ = kLengthBase[l] + bits(kLengthExtra[l]);
        const int d = decode(distances_);
        NNZ_CHECK(d < 30, corrupt, "zlib: invalid distance code");
        match_distance_ = kDistanceBase[d] + bits(kDistanceExtra[d]);
        NNZ_CHECK(match_distance_ <= produced_, corrupt, "zlib: distance before the start of the output");
        continue;
      }
    }
    if (state_ == State::block_header && last_block_) {
      update_adler(out + summed, k - summed);
      summed = k;
      finish_stream();
    }
  }
  update_adler(out + summed, k - summed);
  return k;
}

std::vector<uint8_t> ZlibInflater::inflate_all(ByteSpan stream, uint64_t max_output) {
  ZlibInflater z(stream, max_output);
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (size_t got; (got = z.read(buf, sizeof buf)) > 0;) out.insert(out.end(), buf, buf + got);
  NNZ_CHECK(z.finished(), corrupt, "zlib: truncated stream");
  return out;
}

}  // namespace nnz
