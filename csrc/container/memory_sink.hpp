// A restore sink that puts chosen files into buffers the caller owns, each exactly as large as its
// file (restore_plan gives the sizes): a model restored into memory, or only a model folder's small
// files. The files not chosen are skipped, their tensors left undecoded.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "container/restore.hpp"

namespace nnz {

class MemorySink : public RestoreSink {
 public:
  // File `name` goes to data[0, size).
  void add(const std::string& name, uint8_t* data, uint64_t size);
  // Every file added was restored, whole (call after restore).
  void check_complete() const;

  bool wants(const std::string& name) override { return buffers_.count(name) != 0; }
  void open(const std::string& name, uint64_t size) override;
  void write(const uint8_t* data, size_t size) override;
  void close() override;

 private:
  struct Buffer {
    uint8_t* data;
    uint64_t size;
    bool done = false;
  };
  std::map<std::string, Buffer> buffers_;
  Buffer* current_ = nullptr;
  uint64_t written_ = 0;
};

}  // namespace nnz
