#include "common/error.hpp"

namespace nnz {

void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

}  // namespace nnz
