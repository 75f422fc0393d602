#include "container/restore.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "common/checked_math.hpp"
#include "common/crc32.hpp"
#include "common/error.hpp"
#include "container/member_name.hpp"
#include "container/parallel_decode.hpp"
#include "container/files_section.hpp"

namespace nnz {
namespace {

constexpr char kMagic[4] = {'N', 'N', 'Z', 'F'};
constexpr uint64_t kHeaderBytes = 16;
constexpr uint64_t kMaxLayoutBytes = uint64_t{1} << 28;
constexpr size_t kMaxCrcFields = 8;
constexpr size_t kChunk = size_t{1} << 16;

std::vector<uint8_t> read_layout(FilesSection& section, uint64_t& layout_bytes) {
  uint8_t header[kHeaderBytes];
  section.read(header, kHeaderBytes);
  NNZ_CHECK(std::equal(kMagic, kMagic + 4, reinterpret_cast<const char*>(header)), corrupt,
            "nncodec/files: bad magic");
  NNZ_CHECK(header[4] == kFilesLayoutVersion, unsupported,
            "nncodec/files: layout version " + std::to_string(header[4]) + " (written by a newer nncodec?)");
  layout_bytes = load_le(header + 8, 8);
  NNZ_CHECK(layout_bytes <= kMaxLayoutBytes, limit_exceeded, "nncodec/files: layout too large");
  std::vector<uint8_t> layout(static_cast<size_t>(layout_bytes));
  section.read(layout.data(), layout.size());
  return layout;
}

// Checks one hole against the container and the file, and that its CRC fields lie in kept bytes
// at or after the gap just before it (a restore computes the CRC when it reaches the hole).
void check_hole(const RestoreHole& h, const NnzReader& reader, const RestoreFile& f, uint64_t gap_start,
                std::vector<bool>& used) {
  NNZ_CHECK(!used[h.tensor], corrupt, "nncodec/files: a tensor is put in more than one place");
  used[h.tensor] = true;
  const TensorEntry& t = reader.tensors()[h.tensor];
  NNZ_CHECK(h.offset >= gap_start && h.bytes <= f.size && h.offset <= f.size - h.bytes, corrupt,
            "nncodec/files: tensor '" + t.name + "' overlaps other data or runs past its file");
  NNZ_CHECK(h.swap == 0 || (t.dtype && h.swap * 8 == t.dtype->bits && (h.swap == 2 || h.swap == 4 || h.swap == 8)),
            corrupt, "nncodec/files: invalid byte order entry");
  NNZ_CHECK(h.crcs.size() <= kMaxCrcFields, corrupt, "nncodec/files: too many CRC fields");
}

void check_crc_fields(const RestoreFile& f) {
  // Kept ranges [start, end), the k-th before hole k (the last after every hole).
  std::vector<std::pair<uint64_t, uint64_t>> kept;
  uint64_t at = 0;
  for (const RestoreHole& h : f.holes) {
    kept.emplace_back(at, h.offset);
    at = h.offset + h.bytes;
  }
  kept.emplace_back(at, f.size);
  for (size_t k = 0; k < f.holes.size(); ++k)
    for (uint64_t field : f.holes[k].crcs) {
      bool inside = false;
      for (size_t j = k; j < kept.size() && !inside; ++j)
        inside = field >= kept[j].first && field <= kept[j].second && kept[j].second - field >= 4;
      NNZ_CHECK(inside, corrupt, "nncodec/files: a CRC field lies outside the kept bytes after its tensor");
    }
}

using TensorIndex = std::unordered_map<std::string, uint32_t>;

RestoreFile parse_file(ByteReader& r, const NnzReader& reader, const TensorIndex& by_name, std::vector<bool>& used) {
  RestoreFile f;
  f.name = r.str(r.u16());
  check_member_name(f.name);
  f.size = r.u64();
  const uint32_t nholes = r.u32();
  NNZ_CHECK(uint64_t{nholes} * 13 <= r.remaining(), corrupt, "nncodec/files: hole count too large");
  uint64_t at = 0, holes_bytes = 0;
  for (uint32_t k = 0; k < nholes; ++k) {
    RestoreHole h;
    h.offset = r.u64();
    const std::string tensor = r.str(r.u16());
    h.swap = r.u8();
    const uint8_t ncrc = r.u8();
    for (uint8_t c = 0; c < ncrc; ++c) h.crcs.push_back(r.u64());
    const auto found = by_name.find(tensor);
    NNZ_CHECK(found != by_name.end(), corrupt, "nncodec/files: a hole names tensor '" + tensor.substr(0, 200) +
                                                   "', which the file does not hold");
    h.tensor = found->second;
    h.bytes = reader.tensors()[h.tensor].decoded_bytes();
    NNZ_CHECK(h.bytes <= reader.limits().max_tensor_bytes, limit_exceeded,
              "tensor '" + tensor.substr(0, 200) + "': decoded size exceeds the configured limit");
    check_hole(h, reader, f, at, used);
    at = h.offset + h.bytes;
    holes_bytes += h.bytes;
    f.holes.push_back(std::move(h));
  }
  f.kept_bytes = f.size - holes_bytes;  // holes lie inside the file without overlapping: no underflow
  check_crc_fields(f);
  return f;
}

RestorePlan parse_plan(const NnzReader& reader, FilesSection& section) {
  RestorePlan plan;
  const std::vector<uint8_t> layout = read_layout(section, plan.layout_bytes);
  ByteReader r(layout.data(), layout.size(), "nncodec/files layout");
  const uint32_t nfiles = r.u32();
  NNZ_CHECK(uint64_t{nfiles} * 14 <= r.remaining(), corrupt, "nncodec/files: file count too large");
  std::vector<bool> used(reader.tensors().size(), false);
  TensorIndex by_name;
  for (size_t i = 0; i < reader.tensors().size(); ++i) by_name.emplace(reader.tensors()[i].name, static_cast<uint32_t>(i));
  std::set<std::string> folded;
  for (uint32_t i = 0; i < nfiles; ++i) {
    RestoreFile f = parse_file(r, reader, by_name, used);
    NNZ_CHECK(folded.insert(fold_member_name(f.name)).second, unsafe,
              "nncodec/files: two files named '" + f.name.substr(0, 200) + "' (ignoring case)");
    plan.total_bytes = checked_add(plan.total_bytes, f.size, "nncodec/files: total size");
    plan.files.push_back(std::move(f));
  }
  r.expect_end();
  return plan;
}

// Decoded tensors of the holes ahead, a batch at a time, with their CRC-32 where a file needs it.
class HoleQueue {
 public:
  // The holes of the files wanted (wanted[i] for plan.files[i]).
  HoleQueue(const NnzReader& reader, const RestorePlan& plan, const std::vector<bool>& wanted, int threads,
            uint64_t batch_bytes)
      : reader_(reader), threads_(threads), batch_bytes_(batch_bytes) {
    for (size_t i = 0; i < plan.files.size(); ++i)
      if (wanted[i])
        for (const RestoreHole& h : plan.files[i].holes) holes_.push_back(&h);
  }
  // The next hole's bytes (as they go into the file) and CRC.
  std::pair<const uint8_t*, uint32_t> next() {
    if (next_ == batch_end_) decode_batch();
    const size_t k = next_++ - batch_start_;
    return {buffer_.get() + offsets_[k], crcs_[k]};
  }

 private:
  void decode_batch() {
    batch_start_ = next_;
    uint64_t total = 0;
    offsets_.clear();
    while (batch_end_ < holes_.size() && (batch_end_ == batch_start_ || total + holes_[batch_end_]->bytes <= batch_bytes_)) {
      offsets_.push_back(total);
      total += holes_[batch_end_++]->bytes;
    }
    if (total + 1 > capacity_) {  // not zero-filled: the decoders write every byte
      capacity_ = to_size(total + 1, "restore batch");
      buffer_.reset(new uint8_t[capacity_]);
    }
    std::vector<DecodeTarget> targets;
    for (size_t k = batch_start_; k < batch_end_; ++k)
      targets.push_back(DecodeTarget{holes_[k]->tensor, buffer_.get() + offsets_[k - batch_start_], holes_[k]->bytes});
    decode_tensors(reader_, targets, threads_, &read_scratch_);
    crcs_.assign(batch_end_ - batch_start_, 0);
    for (size_t k = batch_start_; k < batch_end_; ++k) {
      const RestoreHole& h = *holes_[k];
      uint8_t* bytes = buffer_.get() + offsets_[k - batch_start_];
      if (h.swap) swap_elements(bytes, h.bytes, h.swap);
      if (!h.crcs.empty()) crcs_[k - batch_start_] = crc32(bytes, static_cast<size_t>(h.bytes));
    }
  }
  static void swap_elements(uint8_t* p, uint64_t n, uint8_t size) {
    for (uint64_t i = 0; i + size <= n; i += size) std::reverse(p + i, p + i + size);
  }

  const NnzReader& reader_;
  int threads_;
  uint64_t batch_bytes_;
  std::vector<const RestoreHole*> holes_;
  size_t next_ = 0, batch_start_ = 0, batch_end_ = 0;
  std::unique_ptr<uint8_t[]> buffer_;
  ReadScratch read_scratch_{true};  // payloads of the large tensors, one after the other, each read once
  size_t capacity_ = 0;
  std::vector<uint64_t> offsets_;
  std::vector<uint32_t> crcs_;
};

// Writes `length` kept bytes at file offset `start` from the section, with the CRC fields known
// so far set in them.
void write_kept(FilesSection& section, RestoreSink& sink, uint64_t start, uint64_t length,
                const std::map<uint64_t, uint32_t>& crc_values) {
  uint8_t chunk[kChunk];
  for (uint64_t done = 0; done < length;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, length - done));
    section.read(chunk, n);
    const uint64_t a = start + done, b = a + n;
    for (auto it = crc_values.lower_bound(a >= 3 ? a - 3 : 0); it != crc_values.end() && it->first < b; ++it)
      for (uint64_t t = 0; t < 4; ++t)
        if (it->first + t >= a && it->first + t < b) chunk[it->first + t - a] = static_cast<uint8_t>(it->second >> (8 * t));
    sink.write(chunk, n);
    done += n;
  }
}

void restore_file(const RestoreFile& f, FilesSection& section, HoleQueue& queue, RestoreSink& sink) {
  sink.open(f.name, f.size);
  std::map<uint64_t, uint32_t> crc_values;  // field offset -> CRC, as the holes are reached
  uint64_t at = 0;
  for (const RestoreHole& h : f.holes) {
    const auto [bytes, crc] = queue.next();
    for (uint64_t field : h.crcs) crc_values[field] = crc;
    write_kept(section, sink, at, h.offset - at, crc_values);
    sink.write(bytes, static_cast<size_t>(h.bytes));
    at = h.offset + h.bytes;
  }
  write_kept(section, sink, at, f.size - at, crc_values);
  sink.close();
}

}  // namespace

bool has_restore_plan(const NnzReader& reader) { return reader.find_blob(kFilesBlob) >= 0; }

RestorePlan restore_plan(const NnzReader& reader) {
  FilesSection section(reader);
  return parse_plan(reader, section);
}

void restore(const NnzReader& reader, RestoreSink& sink, int threads, uint64_t batch_bytes) {
  FilesSection section(reader);
  const RestorePlan plan = parse_plan(reader, section);
  std::vector<bool> wanted;
  for (const RestoreFile& f : plan.files) wanted.push_back(sink.wants(f.name));
  HoleQueue queue(reader, plan, wanted, std::max(threads, 1), batch_bytes);
  for (size_t i = 0; i < plan.files.size(); ++i) {
    if (wanted[i])
      restore_file(plan.files[i], section, queue, sink);
    else
      section.skip(plan.files[i].kept_bytes);
  }
  section.expect_end();
}

}  // namespace nnz
