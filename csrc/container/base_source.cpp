#include "container/base_source.hpp"

#include "common/error.hpp"
#include "container/files_section.hpp"
#include "container/nnz_reader.hpp"
#include "container/restore.hpp"

namespace nnz {
namespace {

class MemoryBase : public BaseSource {
 public:
  MemoryBase(std::vector<BaseTensorView> tensors, std::shared_ptr<const std::vector<uint8_t>> files)
      : tensors_(std::move(tensors)), files_(std::move(files)) {
    for (size_t i = 0; i < tensors_.size(); ++i) by_name_.emplace(tensors_[i].name, i);
  }
  const BaseTensorView* find(const std::string& name) override {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &tensors_[it->second];
  }
  std::shared_ptr<const std::vector<uint8_t>> files_section(uint64_t max_bytes) override {
    return files_ && files_->size() <= max_bytes ? files_ : nullptr;
  }

 private:
  std::vector<BaseTensorView> tensors_;
  std::shared_ptr<const std::vector<uint8_t>> files_;
  std::unordered_map<std::string, size_t> by_name_;
};

class ReaderBase : public BaseSource {
 public:
  ReaderBase(std::shared_ptr<const NnzReader> reader, std::string label, int threads)
      : reader_(std::move(reader)), label_(std::move(label)), threads_(threads) {}
  const BaseTensorView* find(const std::string& name) override {
    const auto done = views_.find(name);
    if (done != views_.end()) return &done->second;
    const long i = reader_->find_tensor(name);
    if (i < 0) return nullptr;
    const TensorEntry& t = reader_->tensors()[static_cast<size_t>(i)];
    std::vector<uint8_t>& bytes = data_[name];
    try {
      bytes.resize(static_cast<size_t>(t.decoded_bytes()));
      reader_->decode_tensor(static_cast<size_t>(i), bytes.data(), bytes.size(), threads_);
    } catch (const Error& e) {
      throw Error(e.code(), "base model " + label_ + ": " + e.what());
    }
    return &views_.emplace(name, BaseTensorView{name, t.dtype_code, t.shape, ByteSpan{bytes.data(), bytes.size()}})
                .first->second;
  }
  std::shared_ptr<const std::vector<uint8_t>> files_section(uint64_t max_bytes) override {
    if (!has_restore_plan(*reader_)) return nullptr;
    try {
      return std::make_shared<const std::vector<uint8_t>>(read_files_section(*reader_, max_bytes));
    } catch (const Error& e) {
      throw Error(e.code(), "base model " + label_ + ": " + e.what());
    }
  }

 private:
  std::shared_ptr<const NnzReader> reader_;
  std::string label_;
  int threads_;
  std::unordered_map<std::string, std::vector<uint8_t>> data_;
  std::unordered_map<std::string, BaseTensorView> views_;
};

}  // namespace

std::shared_ptr<BaseSource> memory_base(std::vector<BaseTensorView> tensors,
                                        std::shared_ptr<const std::vector<uint8_t>> files) {
  return std::make_shared<MemoryBase>(std::move(tensors), std::move(files));
}

std::shared_ptr<BaseSource> reader_base(std::shared_ptr<const NnzReader> reader, std::string label, int threads) {
  return std::make_shared<ReaderBase>(std::move(reader), std::move(label), threads);
}

}  // namespace nnz
