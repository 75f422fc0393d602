#include "container/memory_sink.hpp"

#include <cstring>

#include "common/error.hpp"

namespace nnz {

void MemorySink::add(const std::string& name, uint8_t* data, uint64_t size) {
  NNZ_CHECK(buffers_.emplace(name, Buffer{data, size}).second, invalid_argument,
            "MemorySink: file '" + name + "' given twice");
}

void MemorySink::check_complete() const {
  for (const auto& [name, buffer] : buffers_)
    NNZ_CHECK(buffer.done, not_found, "the file holds no model file named '" + name + "'");
}

void MemorySink::open(const std::string& name, uint64_t size) {
  NNZ_CHECK(current_ == nullptr, internal, "MemorySink: open before close");
  const auto found = buffers_.find(name);
  NNZ_CHECK(found != buffers_.end() && !found->second.done, internal, "MemorySink: a file it did not ask for");
  NNZ_CHECK(found->second.size == size, invalid_argument,
            "MemorySink: the buffer for '" + name + "' is not the file's size");
  current_ = &found->second;
  written_ = 0;
}

void MemorySink::write(const uint8_t* data, size_t size) {
  NNZ_CHECK(current_ != nullptr && size <= current_->size - written_, internal, "MemorySink: write outside a file");
  if (size > 0) std::memcpy(current_->data + written_, data, size);
  written_ += size;
}

void MemorySink::close() {
  NNZ_CHECK(current_ != nullptr && written_ == current_->size, internal, "MemorySink: file closed before its end");
  current_->done = true;
  current_ = nullptr;
}

}  // namespace nnz
