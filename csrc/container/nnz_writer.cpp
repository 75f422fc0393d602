#include "container/nnz_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/byte_io.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/xxhash64.hpp"
#include "container/zlib_inflate.hpp"

namespace nnz {

NnzWriter::NnzWriter(const std::string& path, int alignment_log2) : path_(path), alignment_log2_(alignment_log2) {
  NNZ_CHECK(alignment_log2 >= 0 && alignment_log2 <= kMaxAlignmentLog2, invalid_argument,
            "alignment must be a power of two between 1 and 4096 bytes");
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  NNZ_CHECK(fd_ >= 0, io, "cannot create '" + path + "': " + std::strerror(errno));
  out_ = std::make_unique<DirectFileAppender>(fd_, path);
  const uint8_t zeros[kHeaderBytes] = {0};
  write_at_end(zeros, sizeof zeros);
}

NnzWriter::~NnzWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void NnzWriter::write_at_end(const uint8_t* data, size_t size) {
  NNZ_CHECK(out_ != nullptr, invalid_argument, "writer already finished");
  out_->append(data, size);
  end_ += size;
}

uint64_t NnzWriter::write_aligned(const uint8_t* data, size_t size) {
  const uint64_t align = uint64_t{1} << alignment_log2_;
  const uint8_t zeros[1 << kMaxAlignmentLog2] = {0};
  write_at_end(zeros, static_cast<size_t>((align - end_ % align) % align));
  const uint64_t offset = end_;
  write_at_end(data, size);
  return offset;
}

void NnzWriter::check_name(std::set<std::string>& names, const std::string& name, const char* what) {
  NNZ_CHECK(!name.empty() && name.size() <= UINT16_MAX, invalid_argument,
            std::string(what) + " names must be 1 to 65535 bytes");
  NNZ_CHECK(names.insert(name).second, invalid_argument, std::string("duplicate ") + what + " name '" + name + "'");
}

void NnzWriter::add_tensor(const std::string& name, DType dtype, const std::vector<uint64_t>& shape,
                           const EncodedTensor& encoded) {
  check_name(tensor_names_, name, "tensor");
  NNZ_CHECK(shape.size() <= static_cast<size_t>(kMaxRank), invalid_argument, "tensor '" + name + "' has too many dimensions");
  NNZ_CHECK(!encoded.codec.empty() && encoded.codec.size() <= kMaxCodecIdBytes, invalid_argument, "bad codec id");
  NNZ_CHECK(encoded.params.size() <= UINT32_MAX, invalid_argument, "codec parameters too large");
  uint64_t count = 1;
  for (uint64_t d : shape) count = checked_mul(count, d, "tensor shape");
  const uint64_t offset = write_aligned(encoded.payload.data(), encoded.payload.size());
  Xxh64 hash;
  hash.update(encoded.payload.data(), encoded.payload.size());
  for (const std::vector<uint8_t>& chunk : encoded.chunks) {
    write_at_end(chunk.data(), chunk.size());
    hash.update(chunk.data(), chunk.size());
  }
  ByteWriter w(tensor_index_);
  w.u16(static_cast<uint16_t>(name.size()));
  w.bytes(name.data(), name.size());
  w.u8(static_cast<uint8_t>(dtype));
  w.u8(static_cast<uint8_t>(shape.size()));
  for (uint64_t d : shape) w.u64(d);
  w.u8(static_cast<uint8_t>(encoded.codec.size()));
  w.bytes(encoded.codec.data(), encoded.codec.size());
  w.u32(static_cast<uint32_t>(encoded.params.size()));
  w.bytes(encoded.params);
  w.u64(offset);
  w.u64(encoded.payload_bytes());
  w.u64(hash.digest());
  ++tensor_count_;
}

void NnzWriter::add_blob(const std::string& name, BlobEncoding encoding, const uint8_t* data, size_t size) {
  check_name(blob_names_, name, "blob");
  const uint64_t offset = write_aligned(data, size);
  ByteWriter w(blob_index_);
  w.u16(static_cast<uint16_t>(name.size()));
  w.bytes(name.data(), name.size());
  w.u8(static_cast<uint8_t>(encoding));
  w.u64(offset);
  w.u64(size);
  w.u64(xxhash64(data, size));
  ++blob_count_;
}

std::vector<uint8_t> NnzWriter::index() const {
  std::vector<uint8_t> index;
  ByteWriter iw(index);
  iw.u32(tensor_count_);
  iw.u32(blob_count_);
  iw.bytes(tensor_index_);
  iw.bytes(blob_index_);
  return index;
}

uint64_t NnzWriter::finish(const std::vector<uint8_t>& zlib_index) {
  std::vector<uint8_t> index = this->index();
  uint32_t flags = 0;
  if (!zlib_index.empty()) {
    NNZ_CHECK(ZlibInflater::inflate_all(ByteSpan{zlib_index.data(), zlib_index.size()}, index.size()) == index,
              invalid_argument, "the zlib index given is not the index");
    index = zlib_index;
    flags |= kFlagZlibIndex;
  }
  const uint64_t index_offset = write_aligned(index.data(), index.size());

  std::vector<uint8_t> header;
  ByteWriter hw(header);
  hw.bytes(kMagic, sizeof kMagic);
  hw.u16(kFormatMajor);
  hw.u16(kFormatMinor);
  hw.u32(flags);
  hw.u64(index_offset);
  hw.u64(index.size());
  hw.u64(xxhash64(index.data(), index.size()));
  hw.u8(static_cast<uint8_t>(alignment_log2_));
  while (header.size() < kHeaderHashedBytes) hw.u8(0);
  hw.u64(xxhash64(header.data(), kHeaderHashedBytes));

  NNZ_CHECK(out_ != nullptr, invalid_argument, "writer already finished");
  out_->finish();
  out_.reset();
  bool ok = ::pwrite(fd_, header.data(), header.size(), 0) == static_cast<ssize_t>(header.size());
  const int saved = errno;
  ok = (::close(fd_) == 0) && ok;
  fd_ = -1;
  errno = ok ? 0 : saved;
  NNZ_CHECK(ok, io, "cannot write '" + path_ + "': " + std::strerror(errno));
  return end_;
}

}  // namespace nnz
