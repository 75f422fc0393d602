#include "container/parallel_decode.hpp"

#include <algorithm>
#include <cstdint>

#include "common/parallel.hpp"

namespace nnz {

void decode_tensors(const NnzReader& reader, std::vector<DecodeTarget> targets, int threads, ReadScratch* scratch) {
  threads = std::max(threads, 1);
  std::stable_sort(targets.begin(), targets.end(),
                   [](const DecodeTarget& a, const DecodeTarget& b) { return a.bytes > b.bytes; });
  uint64_t total = 0;
  for (const DecodeTarget& t : targets) total = t.bytes > UINT64_MAX - total ? UINT64_MAX : total + t.bytes;
  size_t large = 0;
  if (threads > 1)
    while (large < targets.size() && targets[large].bytes > total / (4 * static_cast<uint64_t>(threads))) ++large;
  for (size_t k = 0; k < large; ++k)
    reader.decode_tensor(targets[k].index, targets[k].out, targets[k].bytes, threads, scratch);
  parallel_for(targets.size() - large, threads, [&](size_t k) {
    const DecodeTarget& t = targets[large + k];
    reader.decode_tensor(t.index, t.out, t.bytes, 1, threads == 1 ? scratch : nullptr);  // one thread: in turn
  });
}

}  // namespace nnz
