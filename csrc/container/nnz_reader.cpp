#include "container/nnz_reader.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <set>
#include <thread>

#include "codecs/codec_table.hpp"
#include "codecs/delta/delta.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/xxhash64.hpp"
#include "container/files_section.hpp"
#include "container/zlib_inflate.hpp"

namespace nnz {
namespace {

// Payloads from this size are hashed while they decode when the caller gives threads (below it, a
// thread costs more than the hash).
constexpr size_t kConcurrentHashBytes = size_t{1} << 20;

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t extra;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { extra = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { extra = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { extra = 3; cp = c & 0x07; }
    else return false;
    if (extra >= s.size() - i) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

bool valid_codec_id(const std::string& id) {
  if (id.empty() || id.size() > kMaxCodecIdBytes) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

// Fuzzing builds accept any stored checksum so the fuzzer reaches the parsers behind it (it cannot
// forge xxh64); the hash is still computed. Release and test builds never define this macro.
bool hash_matches(const uint8_t* data, size_t size, uint64_t stored) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  (void)stored;
  (void)xxhash64(data, size);
  return true;
#else
  return xxhash64(data, size) == stored;
#endif
}

void check_payload_hash(bool matches, const TensorEntry& t) {
  NNZ_CHECK(matches, checksum, "tensor '" + t.name + "': checksum mismatch (file is corrupted)");
}

// Decodes tensor t's payload (`request`) into out. The checksum guards against damage, not attack
// (a hostile file carries matching ones), and the decoders check everything they read; so with
// threads to spare a large payload is hashed on a thread of its own while it decodes (hashing
// first was a serial pass ahead of every decode). A mismatch fails the call either way, ahead of
// anything the decoder reported; the decoder's errors name the tensor.
void decode_checked(const DecodeRequest& request, const TensorEntry& t, uint8_t* out, int threads) {
  const ByteSpan payload = request.payload;
  bool hash_ok = false;
  std::exception_ptr decode_error;
  auto decode = [&] {
    try {
      ::nnz::decode_tensor(request, out, threads);
    } catch (...) {
      decode_error = std::current_exception();
    }
  };
  if (threads > 1 && payload.size >= kConcurrentHashBytes) {
    std::thread hasher([&] { hash_ok = hash_matches(payload.data, payload.size, t.hash); });
    decode();
    hasher.join();
  } else {
    hash_ok = hash_matches(payload.data, payload.size, t.hash);
    if (hash_ok) decode();
  }
  check_payload_hash(hash_ok, t);
  if (!decode_error) return;
  try {
    std::rethrow_exception(decode_error);
  } catch (const Error& e) {
    throw Error(e.code(), "tensor '" + t.name + "': " + e.what());
  }
}

std::string read_name(ByteReader& r, const char* what) {
  const uint16_t n = r.u16();
  std::string name = r.str(n);
  NNZ_CHECK(!name.empty(), corrupt, std::string("index: empty ") + what + " name");
  NNZ_CHECK(valid_utf8(name), corrupt, std::string("index: ") + what + " name is not valid UTF-8");
  return name;
}

}  // namespace

uint64_t TensorEntry::decoded_bytes() const {
  NNZ_CHECK(dtype != nullptr, unsupported,
            "tensor '" + name + "': unknown dtype code " + std::to_string(dtype_code) + " (written by a newer nncodec?)");
  return checked_mul(count, static_cast<uint64_t>(dtype->bits / 8), "tensor size");
}

NnzReader::NnzReader(std::unique_ptr<ByteSource> source, ReaderLimits limits)
    : source_(std::move(source)), limits_(limits) {
  const uint64_t size = source_->size();
  NNZ_CHECK(size >= kHeaderBytes, corrupt, "not a .nnz file (too short for a header)");
  ReadScratch scratch;
  ByteSpan header = source_->read(0, kHeaderBytes, scratch);
  NNZ_CHECK(std::memcmp(header.data, kMagic, sizeof kMagic) == 0, corrupt, "not a .nnz file (bad magic bytes)");
  ByteReader h(header, "header");
  h.bytes(sizeof kMagic);
  version_.major = h.u16();
  version_.minor = h.u16();
  const uint32_t flags = h.u32();
  const uint64_t index_offset = h.u64(), index_bytes = h.u64(), index_hash = h.u64();
  const uint8_t alignment_log2 = h.u8();
  h.bytes(kHeaderHashedBytes - h.position());
  const uint64_t header_hash = h.u64();
  NNZ_CHECK(hash_matches(header.data, kHeaderHashedBytes, header_hash), checksum, "header checksum mismatch (file is corrupted)");
  NNZ_CHECK(version_.major == kFormatMajor, unsupported,
            "format version " + std::to_string(version_.major) + "." + std::to_string(version_.minor) +
                " is not supported by this nncodec (reads " + std::to_string(kFormatMajor) + ".x)");
  NNZ_CHECK((flags & ~kFlagZlibIndex) == 0, unsupported, "header uses feature flags this nncodec does not know");
  NNZ_CHECK(alignment_log2 <= kMaxAlignmentLog2, corrupt, "header: bad alignment");
  NNZ_CHECK(index_offset >= kHeaderBytes && index_offset <= size && index_bytes <= size - index_offset, corrupt,
            "file is truncated (index points past its end)");
  NNZ_CHECK(index_bytes <= limits_.max_index_bytes, limit_exceeded, "index larger than the configured limit");
  ReadScratch index_scratch;
  ByteSpan index = source_->read(index_offset, index_bytes, index_scratch);
  NNZ_CHECK(hash_matches(index.data, index.size, index_hash), checksum, "index checksum mismatch (file is corrupted)");
  std::vector<uint8_t> inflated;
  if (flags & kFlagZlibIndex) {
    inflated = ZlibInflater::inflate_all(index, limits_.max_index_bytes);
    index = ByteSpan{inflated.data(), inflated.size()};
  }
  parse_index(index);

  // Every section lies between the header and the index, and no two overlap.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const TensorEntry& t : tensors_) ranges.emplace_back(t.offset, t.bytes);
  for (const BlobEntry& b : blobs_) ranges.emplace_back(b.offset, b.bytes);
  std::sort(ranges.begin(), ranges.end());
  uint64_t prev_end = kHeaderBytes;
  for (const auto& r : ranges) {
    NNZ_CHECK(r.first >= prev_end && r.first <= index_offset && r.second <= index_offset - r.first, corrupt,
              "index: overlapping or out-of-range sections");
    prev_end = r.first + r.second;
  }
  read_base_table();
}

void NnzReader::read_base_table() {
  const long i = find_blob(kBaseBlob);
  if (i < 0) return;
  const std::vector<uint8_t> stored = read_blob(static_cast<size_t>(i));
  ByteSpan bytes{stored.data(), stored.size()};
  std::vector<uint8_t> inflated;
  if (blobs_[static_cast<size_t>(i)].encoding == BlobEncoding::zlib) {
    inflated = ZlibInflater::inflate_all(bytes, limits_.max_index_bytes);
    bytes = ByteSpan{inflated.data(), inflated.size()};
  }
  NNZ_CHECK(bytes.size <= limits_.max_index_bytes, limit_exceeded, "nncodec/base: larger than the configured index limit");
  std::vector<BaseTensorRef> layouts;
  for (const TensorEntry& t : tensors_) {
    BaseTensorRef ref;
    ref.name = t.name;
    ref.dtype_code = t.dtype_code;
    ref.shape = t.shape;
    ref.count = t.count;
    layouts.push_back(std::move(ref));
  }
  base_table_ = std::make_unique<BaseTable>(parse_base_table(bytes, layouts));
}

namespace {

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t d = 0; d < shape.size(); ++d) s += (d ? ", " : "") + std::to_string(shape[d]);
  return s + "]";
}

std::string dtype_text(uint8_t code) {
  const DTypeInfo* d = find_dtype(code);
  return d ? d->name : "dtype " + std::to_string(code);
}

}  // namespace

void NnzReader::attach_base(std::shared_ptr<BaseSource> base) {
  NNZ_CHECK(base != nullptr, invalid_argument, "no base model given");
  NNZ_CHECK(base_ == nullptr, invalid_argument, "a base model is already attached");
  std::vector<ByteSpan> spans;
  const std::string coded = base_table_ && !base_table_->base_name.empty()
                                ? " (the file was coded against '" + base_table_->base_name.substr(0, 200) + "')"
                                : "";
  for (const BaseTensorRef& t : base_table_ ? base_table_->tensors : std::vector<BaseTensorRef>{}) {
    const std::string name = "'" + t.name.substr(0, 200) + "'";
    const BaseTensorView* v = base->find(t.name);
    NNZ_CHECK(v != nullptr, base, "wrong base model: it has no tensor " + name + coded);
    NNZ_CHECK(v->dtype_code == t.dtype_code && v->shape == t.shape, base,
              "wrong base model: tensor " + name + " is " + dtype_text(v->dtype_code) + " " + shape_text(v->shape) +
                  ", the file was coded against " + dtype_text(t.dtype_code) + " " + shape_text(t.shape) + coded);
    const DTypeInfo* d = find_dtype(t.dtype_code);
    NNZ_CHECK(d != nullptr, unsupported, "base tensor " + name + ": unknown dtype code");
    NNZ_CHECK(v->bytes.size == checked_mul(t.count, static_cast<uint64_t>(d->bits / 8), "base tensor size"), base,
              "wrong base model: tensor " + name + " has the wrong number of bytes");
    NNZ_CHECK(hash_matches(v->bytes.data, v->bytes.size, t.hash), base,
              "wrong base model: tensor " + name + " differs from the one the file was coded against" + coded);
    spans.push_back(v->bytes);
  }
  if (files_patch_base(*this))  // read now: a borrowed base reader may close after this; checked by restore
    base_files_ = base->files_section(kMaxPatchBaseBytes);
  base_bytes_ = std::move(spans);
  base_ = std::move(base);
}

ByteSpan NnzReader::Resolver::resolve(uint8_t source, uint32_t index, DType dtype, uint64_t count,
                                      std::vector<uint8_t>& scratch) const {
  const uint64_t bytes = checked_mul(count, static_cast<uint64_t>(dtype_bytes(dtype)), "tensor size");
  if (source == static_cast<uint8_t>(DeltaSource::base)) {
    const BaseTable* table = reader_.base_table_.get();
    NNZ_CHECK(table && index < table->tensors.size(), corrupt, "delta: refers to a base tensor the file does not list");
    const BaseTensorRef& t = table->tensors[index];
    NNZ_CHECK(t.dtype_code == static_cast<uint8_t>(dtype) && t.count == count, corrupt,
              "delta: base tensor '" + t.name.substr(0, 200) + "' is not of the tensor's dtype and size");
    NNZ_CHECK(reader_.base_ != nullptr, base,
              "coded against base tensor '" + t.name.substr(0, 200) + "' of base model '" + table->base_name.substr(0, 200) +
                  "', which was not given (decode with its base: --base, base=)");
    return reader_.base_bytes_[index];
  }
  NNZ_CHECK(allow_container_, corrupt, "delta: a deduplicated tensor refers to another deduplicated tensor");
  NNZ_CHECK(index < reader_.tensors_.size(), corrupt, "delta: refers to a tensor the file does not hold");
  const TensorEntry& t = reader_.tensors_[index];
  NNZ_CHECK(t.dtype && t.dtype->dtype == dtype && t.count == count, corrupt,
            "delta: tensor '" + t.name.substr(0, 200) + "' it repeats is not of its dtype and size");
  scratch.resize(to_size(bytes, "tensor size"));
  reader_.decode_with(index, scratch.data(), bytes, 1, reader_.inner_resolver_);
  return ByteSpan{scratch.data(), scratch.size()};
}

void NnzReader::parse_index(ByteSpan index) {
  ByteReader r(index, "index");
  const uint32_t ntensors = r.u32(), nblobs = r.u32();
  // A tensor entry takes at least 35 bytes and a blob entry 28: larger counts are corrupt, not a
  // reason to allocate.
  NNZ_CHECK(uint64_t{ntensors} * 35 + uint64_t{nblobs} * 28 <= r.remaining(), corrupt, "index: entry count too large");
  tensors_.reserve(ntensors);
  std::set<std::string> names;
  for (uint32_t i = 0; i < ntensors; ++i) {
    TensorEntry t;
    t.name = read_name(r, "tensor");
    NNZ_CHECK(names.insert(t.name).second, corrupt, "index: duplicate tensor name '" + t.name + "'");
    t.dtype_code = r.u8();
    t.dtype = find_dtype(t.dtype_code);
    const uint8_t ndim = r.u8();
    NNZ_CHECK(ndim <= kMaxRank, corrupt, "index: tensor '" + t.name + "' has too many dimensions");
    t.count = 1;
    for (uint8_t d = 0; d < ndim; ++d) {
      t.shape.push_back(r.u64());
      t.count = checked_mul(t.count, t.shape.back(), "index: tensor shape");
    }
    if (t.dtype) t.decoded_bytes();  // count * element size must fit in 64 bits
    t.codec = r.str(r.u8());
    NNZ_CHECK(valid_codec_id(t.codec), corrupt, "index: tensor '" + t.name + "' has a malformed codec id");
    ByteSpan params = r.bytes(r.u32());
    t.params.assign(params.data, params.data + params.size);
    t.offset = r.u64();
    t.bytes = r.u64();
    t.hash = r.u64();
    tensors_.push_back(std::move(t));
  }
  names.clear();
  for (uint32_t i = 0; i < nblobs; ++i) {
    BlobEntry b;
    b.name = read_name(r, "blob");
    NNZ_CHECK(names.insert(b.name).second, corrupt, "index: duplicate blob name '" + b.name + "'");
    const uint8_t enc = r.u8();
    NNZ_CHECK(enc <= static_cast<uint8_t>(BlobEncoding::zlib), unsupported, "blob '" + b.name + "': unknown encoding");
    b.encoding = static_cast<BlobEncoding>(enc);
    b.offset = r.u64();
    b.bytes = r.u64();
    b.hash = r.u64();
    blobs_.push_back(std::move(b));
  }
  r.expect_end();
}

long NnzReader::find_tensor(const std::string& name) const {
  for (size_t i = 0; i < tensors_.size(); ++i)
    if (tensors_[i].name == name) return static_cast<long>(i);
  return -1;
}

long NnzReader::find_blob(const std::string& name) const {
  for (size_t i = 0; i < blobs_.size(); ++i)
    if (blobs_[i].name == name) return static_cast<long>(i);
  return -1;
}

ByteSpan NnzReader::read_payload(size_t i, ReadScratch& scratch, int threads) const {
  NNZ_CHECK(i < tensors_.size(), invalid_argument, "tensor index out of range");
  const TensorEntry& t = tensors_[i];
  ByteSpan payload = source_->read(t.offset, t.bytes, scratch, threads);
  check_payload_hash(hash_matches(payload.data, payload.size, t.hash), t);
  return payload;
}

void NnzReader::verify_tensor(size_t i) const {
  ReadScratch scratch;
  read_payload(i, scratch, 1);
}

void NnzReader::decode_tensor(size_t i, uint8_t* out, uint64_t out_bytes, int threads, ReadScratch* scratch) const {
  decode_with(i, out, out_bytes, threads, resolver_, scratch);
}

void NnzReader::decode_with(size_t i, uint8_t* out, uint64_t out_bytes, int threads, const BaseResolver& resolver,
                            ReadScratch* scratch) const {
  NNZ_CHECK(i < tensors_.size(), invalid_argument, "tensor index out of range");
  const TensorEntry& t = tensors_[i];
  const uint64_t need = t.decoded_bytes();
  NNZ_CHECK(need <= limits_.max_tensor_bytes, limit_exceeded,
            "tensor '" + t.name + "': decoded size " + std::to_string(need) + " bytes exceeds the configured limit");
  NNZ_CHECK(out_bytes == need, invalid_argument, "tensor '" + t.name + "': output buffer has the wrong size");
  std::unique_ptr<ReadScratch, SpareReturn> lent;
  if (!scratch) lent = borrow_spare();
  const ByteSpan payload = source_->read(t.offset, t.bytes, scratch ? *scratch : *lent, threads);
  decode_checked(DecodeRequest{t.codec, t.dtype->dtype, t.count, ByteSpan{t.params.data(), t.params.size()}, payload,
                               &resolver},
                 t, out, threads);
}

std::unique_ptr<ReadScratch, NnzReader::SpareReturn> NnzReader::borrow_spare() const {
  std::lock_guard<std::mutex> lock(spare_mutex_);
  return {spare_scratch_ ? spare_scratch_.release() : new ReadScratch(), SpareReturn{this}};
}

void NnzReader::SpareReturn::operator()(ReadScratch* lent) const {
  std::unique_ptr<ReadScratch> owned(lent);
  std::lock_guard<std::mutex> lock(reader->spare_mutex_);
  if (!reader->spare_scratch_) reader->spare_scratch_ = std::move(owned);
}

std::vector<uint8_t> NnzReader::read_blob(size_t i) const {
  NNZ_CHECK(i < blobs_.size(), invalid_argument, "blob index out of range");
  const BlobEntry& b = blobs_[i];
  ReadScratch scratch;
  ByteSpan data = source_->read(b.offset, b.bytes, scratch);
  NNZ_CHECK(hash_matches(data.data, data.size, b.hash), checksum, "blob '" + b.name + "': checksum mismatch (file is corrupted)");
  return std::vector<uint8_t>(data.data, data.data + data.size);
}

}  // namespace nnz
