// The dq encoder: per tensor, a search for the largest step D whose trellis-quantized tensor has
// RMSE <= R; per chunk and lane, a Viterbi search over the 8 states of dq.hpp.
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "codecs/chunk_table.hpp"
#include "codecs/dq/dq.hpp"
#include "codecs/exception_list.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "common/scratch.hpp"
#include "entropy/token_encode.hpp"
#include "entropy/token_stream.hpp"
#include "transform/float_convert.hpp"

namespace nnz {
namespace {

// Lagrange multiplier of the trellis in units of D^2 (cost = (x - x')^2 / D^2 + lambda x bits).
constexpr double kDqLambda = 0.25;
constexpr int kSearchPasses = 6;     // on the sample
constexpr int kFinalPasses = 12;     // on the whole tensor
constexpr uint64_t kSampleElems = uint64_t{1} << 15;
constexpr size_t kSampleSegments = 4;
constexpr double kRmseSlack = 0.004;  // a step is taken once its RMSE is within 0.4% below R
constexpr double kSumRounding = 1e-6;
// Steps stay below this: levels reach 2^30 and the decoder requires step x 2^32 finite.
constexpr double kMaxStep = DBL_MAX / 17179869184.0;  // 2^34
constexpr uint32_t kCheapLevels = 64;
// rANS precision: the decoder follows the contexts one token after the other, so its tables
// should stay in cache (16 tables of 2^10 slots: 64 KiB; at 2^12 pass 1 of the decoder took 40%
// longer, for 0.09% fewer bytes).
constexpr int kDqMaxScaleBits = 10;

// Token counts per context, the statistics the trellis's rate estimates come from.
struct TokenCounts {
  uint64_t count[kDqContexts][kParityTokenAlphabet] = {};

  void add(const TokenCounts& other) {
    for (int c = 0; c < kDqContexts; ++c)
      for (size_t t = 0; t < kParityTokenAlphabet; ++t) count[c][t] += other.count[c][t];
  }
};

// Estimated bits of a level's magnitude (token, raw bits and sign) in each context.
class RateModel {
 public:
  explicit RateModel(const TokenCounts& counts) {
    double pooled[kParityTokenAlphabet] = {}, pooled_total = 0;
    for (int c = 0; c < kDqContexts; ++c)
      for (size_t t = 0; t < kParityTokenAlphabet; ++t) pooled[t] += static_cast<double>(counts.count[c][t]);
    for (double p : pooled) pooled_total += p;
    // Contexts seen rarely lean on the pooled statistics (a prior worth 64 symbols).
    const double prior = 64.0 / (pooled_total + 1.0);
    for (int c = 0; c < kDqContexts; ++c) {
      double total = 0;
      for (size_t t = 0; t < kParityTokenAlphabet; ++t) total += static_cast<double>(counts.count[c][t]);
      for (size_t t = 0; t < kParityTokenAlphabet; ++t) {
        const double p = (static_cast<double>(counts.count[c][t]) + prior * pooled[t] + 0.01) /
                         (total + prior * pooled_total + 0.01 * kParityTokenAlphabet);
        token_bits_[c][t] = static_cast<float>(-std::log2(p));
      }
      for (uint32_t m = 0; m < kCheapLevels; ++m) cheap_[c][m] = from_token(c, m);
    }
  }

  float bits(int ctx, uint32_t magnitude) const {
    return magnitude < kCheapLevels ? cheap_[ctx][magnitude] : from_token(ctx, magnitude);
  }

 private:
  float from_token(int ctx, uint32_t magnitude) const {
    const Token t = value_to_token(magnitude, TokenScheme::parity);
    return token_bits_[ctx][t.token] + static_cast<float>(t.raw_len) + (magnitude ? 1.0f : 0.0f);
  }
  float token_bits_[kDqContexts][kParityTokenAlphabet];
  float cheap_[kDqContexts][kCheapLevels];
};

// The statistics to start from: levels of nearest rounding at step 2D, in every context.
TokenCounts initial_counts(const double* x, size_t n) {
  TokenCounts counts;
  for (size_t i = 0; i < n; ++i) {
    const double a = std::fabs(x[i]) / 2;
    const uint32_t m = a < 65535 ? static_cast<uint32_t>(a + 0.5) : 65535;
    ++counts.count[0][value_to_token(m, TokenScheme::parity).token];
  }
  for (int c = 1; c < kDqContexts; ++c) std::memcpy(counts.count[c], counts.count[0], sizeof counts.count[0]);
  return counts;
}

// The two edges into each state: (previous state, parity of the level).
struct Edge {
  uint8_t from, parity;
};
struct IncomingEdges {
  Edge edge[kDqStates][2];
  constexpr IncomingEdges() : edge() {
    int seen[kDqStates] = {};
    for (int s = 0; s < kDqStates; ++s)
      for (int parity = 0; parity < 2; ++parity) {
        const int to = kDqNextState[s][parity];
        edge[to][seen[to]++] = Edge{static_cast<uint8_t>(s), static_cast<uint8_t>(parity)};
      }
  }
};
constexpr IncomingEdges kIncoming;

// The Viterbi search of one lane: levels for x[0..len) (values in units of D; exceptions are
// level 0 at no distortion). Branch-free over the states: each state keeps the cheaper of its two
// incoming edges (the compares would be mispredicted half the time).
class LaneTrellis {
 public:
  LaneTrellis(const RateModel& model, int shift) : model_(model), shift_(shift) {}

  void run(const double* x, const uint8_t* exception, size_t len, int32_t* levels) {
    steps_.resize(len * kDqStates);
    double cost[kDqStates];
    uint32_t level[kDqStates] = {}, previous[kDqStates] = {};
    for (double& c : cost) c = kUnreached;
    cost[0] = 0;
    for (size_t i = 0; i < len; ++i) {
      const Choices choices[2] = {exception[i] ? kExceptionChoices : q0_choices(x[i]),
                                  exception[i] ? kExceptionChoices : q1_choices(x[i])};
      double edge_cost[kDqStates][2];
      int32_t edge_level[kDqStates][2];
      for (int s = 0; s < kDqStates; ++s) {
        const int q = dq_quantizer(s);
        const Choices& c = choices[q];
        const int ctx = dq_context(q, level[s], previous[s], shift_);
        const double even = cost[s] + c.even_distortion + kDqLambda * model_.bits(ctx, c.even_magnitude());
        const double zero = cost[s] + c.zero_distortion + kDqLambda * model_.bits(ctx, 0);
        const bool take_zero = zero < even;
        edge_cost[s][0] = take_zero ? zero : even;
        edge_level[s][0] = take_zero ? 0 : c.even;
        edge_cost[s][1] = cost[s] + c.odd_distortion + kDqLambda * model_.bits(ctx, c.odd_magnitude());
        edge_level[s][1] = c.odd;
      }
      uint8_t* const step = &steps_[i * kDqStates];
      uint32_t next_level[kDqStates], next_previous[kDqStates];
      for (int to = 0; to < kDqStates; ++to) {
        const Edge a = kIncoming.edge[to][0], b = kIncoming.edge[to][1];
        const double cost_a = edge_cost[a.from][a.parity], cost_b = edge_cost[b.from][b.parity];
        const bool take_b = cost_b < cost_a;
        const Edge e = take_b ? b : a;
        const int32_t k = edge_level[e.from][e.parity];
        const uint32_t magnitude = dq_context_magnitude(static_cast<uint32_t>(k < 0 ? -k : k));
        cost[to] = take_b ? cost_b : cost_a;
        next_level[to] = magnitude_next_level(level[e.from], magnitude);
        next_previous[to] = magnitude;
        step[to] = static_cast<uint8_t>(e.from | e.parity << 3 | (k == 0) << 4);
      }
      std::memcpy(level, next_level, sizeof level);
      std::memcpy(previous, next_previous, sizeof previous);
    }
    int state = 0;
    for (int s = 1; s < kDqStates; ++s)
      if (cost[s] < cost[state]) state = s;
    // Back along the decisions; each level follows again from its value and the decision.
    for (size_t i = len; i-- > 0;) {
      const uint8_t d = steps_[i * kDqStates + static_cast<size_t>(state)];
      const int from = d & 7;
      if (d & 16) {
        levels[i] = 0;
      } else {
        const Choices c = exception[i] ? kExceptionChoices : dq_quantizer(from) ? q1_choices(x[i]) : q0_choices(x[i]);
        levels[i] = (d & 8) ? c.odd : c.even;
      }
      state = from;
    }
  }

 private:
  static constexpr double kUnreached = std::numeric_limits<double>::infinity();
  // A quantizer's choices for one value: the even and the odd of the two levels around it, and 0.
  struct Choices {
    int32_t even, odd;
    double even_distortion, odd_distortion, zero_distortion;
    uint32_t even_magnitude() const { return static_cast<uint32_t>(even < 0 ? -even : even); }
    uint32_t odd_magnitude() const { return static_cast<uint32_t>(odd < 0 ? -odd : odd); }
  };
  // Exceptions are stored as they are: level 0 costs no distortion, odd levels cannot be taken.
  static constexpr Choices kExceptionChoices{0, 1, 0, kUnreached, 0};

  static Choices choices(int64_t low, double low_distortion, int64_t high, double high_distortion, double x) {
    const bool low_even = (low & 1) == 0;
    return Choices{static_cast<int32_t>(low_even ? low : high), static_cast<int32_t>(low_even ? high : low),
                   low_even ? low_distortion : high_distortion, low_even ? high_distortion : low_distortion, x * x};
  }
  // Q0 rebuilds 2k: the levels a and a + 1 with 2a <= x < 2a + 2.
  static Choices q0_choices(double x) {
    const double fa = std::floor(x / 2);
    return choices(static_cast<int64_t>(fa), sq(x - 2 * fa), static_cast<int64_t>(fa) + 1, sq(x - 2 * fa - 2), x);
  }
  // Q1 rebuilds 2k - sgn k: the levels b and b + 1 (signed like x) with 2b - 1 <= |x| < 2b + 1.
  static Choices q1_choices(double x) {
    const double ax = std::fabs(x);
    const double fb = std::floor((ax + 1) / 2);
    const int64_t b = static_cast<int64_t>(fb), sign = x < 0 ? -1 : 1;
    return choices(sign * b, sq(ax - (b ? 2 * fb - 1 : 0.0)), sign * (b + 1), sq(ax - 2 * fb - 1), x);
  }
  static double sq(double v) { return v * v; }

  const RateModel& model_;
  int shift_;
  std::vector<uint8_t> steps_;  // per element and state: previous state | parity << 3 | (level 0) << 4
};

// One chunk quantized at step D: its coded bytes, squared error, largest error and token counts.
struct ChunkResult {
  std::vector<uint8_t> coded;
  double squared_error = 0;
  double max_error = 0;
  TokenCounts counts;
};

double decoded_value(DType dtype, int64_t r, double step) {
  uint8_t scratch[8];
  return dtype == DType::float32 ? static_cast<double>(to_float32(static_cast<double>(r) * step))
                                 : store_float(dtype, static_cast<double>(r) * step, scratch);
}

void code_chunk(DType dtype, const uint8_t* src, size_t n, double step, const RateModel& model, ChunkResult& out) {
  const size_t esize = static_cast<size_t>(dtype_bytes(dtype));
  const std::unique_ptr<double[]> x = scratch_array<double>(n);
  const std::unique_ptr<uint8_t[]> exception = scratch_array<uint8_t>(n);
  std::vector<uint32_t> exceptions;
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const double v = load_float(dtype, src + i * esize) / step;
    exception[i] = !(std::fabs(v) < 2.0 * static_cast<double>(kDqMaxLevel - 2));  // NaN, infinities, huge
    x[i] = exception[i] ? 0 : v;
    if (exception[i]) exceptions.push_back(static_cast<uint32_t>(i));
    const double a = std::fabs(x[i]) / 2 + 0.5;
    sum += a < 65535 ? static_cast<uint64_t>(a) : 65535;
  }
  const int shift = magnitude_shift(sum, n);
  const std::unique_ptr<int32_t[]> levels = scratch_array<int32_t>(n);
  LaneTrellis trellis(model, shift);
  const size_t m = magnitude_lane_length(n);
  for (size_t lane = 0; lane < kMagnitudeLanes && lane * m < n; ++lane) {
    const size_t first = lane * m, len = std::min(m, n - first);
    trellis.run(x.get() + first, exception.get() + first, len, levels.get() + first);
  }

  // The symbols in stream order, with the error of each element as the decoder rebuilds it.
  const std::unique_ptr<uint32_t[]> magnitude = scratch_array<uint32_t>(n);
  const std::unique_ptr<uint8_t[]> negative = scratch_array<uint8_t>(n), context = scratch_array<uint8_t>(n);
  int state[kMagnitudeLanes] = {0, 0, 0, 0};
  uint32_t level[kMagnitudeLanes] = {0, 0, 0, 0}, previous[kMagnitudeLanes] = {0, 0, 0, 0};
  size_t pos = 0;
  for_each_in_lane_order(n, [&](size_t i, size_t lane) {
    const int64_t k = levels[i];
    const uint32_t a = static_cast<uint32_t>(k < 0 ? -k : k);
    const int q = dq_quantizer(state[lane]);
    const int ctx = dq_context(q, level[lane], previous[lane], shift);
    magnitude[pos] = a;
    negative[pos] = k < 0;
    context[pos] = static_cast<uint8_t>(ctx);
    ++out.counts.count[ctx][value_to_token(a, TokenScheme::parity).token];
    if (!exception[i]) {
      const double err = decoded_value(dtype, dq_reconstruction(q, k), step) -
                         load_float(dtype, src + i * esize);
      out.squared_error += err * err;
      out.max_error = std::max(out.max_error, std::fabs(err));
    }
    state[lane] = kDqNextState[state[lane]][k & 1];
    previous[lane] = dq_context_magnitude(a);
    level[lane] = magnitude_next_level(level[lane], previous[lane]);
    ++pos;
  });

  ByteWriter w(out.coded);
  w.u8(static_cast<uint8_t>(shift));
  write_exception_list(w, exceptions, src, esize);
  encode_token_stream(
      TokenStreamInput{magnitude.get(), context.get(), negative.get(), n, kDqContexts, TokenScheme::parity,
                       kDqMaxScaleBits}, out.coded);
}

// Chunks of the tensor coded at one step.
struct Pass {
  double step = 0;
  double rmse = 0;  // over the elements of these chunks
  double max_error = 0;
  bool all_zero = true;
  TokenCounts counts;
  std::vector<std::vector<uint8_t>> chunks;
};

// A run of elements coded as one chunk.
struct Segment {
  uint64_t first;
  size_t count;
};

Pass code_segments(const TensorRef& tensor, const std::vector<Segment>& segments, int threads, double step,
                   const RateModel& model) {
  const size_t esize = static_cast<size_t>(dtype_bytes(tensor.dtype));
  std::vector<ChunkResult> results(segments.size());
  parallel_for(segments.size(), threads, [&](size_t k) {
    ChunkResult result;  // on this thread's stack (no shared cache lines)
    code_chunk(tensor.dtype, tensor.data + segments[k].first * esize, segments[k].count, step, model, result);
    results[k] = std::move(result);
  });
  Pass pass;
  pass.step = step;
  double squared_error = 0;
  uint64_t elements = 0;
  for (size_t k = 0; k < segments.size(); ++k) {  // in order: the sums do not depend on the thread count
    ChunkResult& r = results[k];
    squared_error += r.squared_error;
    elements += segments[k].count;
    pass.max_error = std::max(pass.max_error, r.max_error);
    pass.counts.add(r.counts);
    pass.chunks.push_back(std::move(r.coded));
  }
  uint64_t zeros = 0;
  for (int c = 0; c < kDqContexts; ++c) zeros += pass.counts.count[c][0];
  pass.all_zero = zeros == elements;
  pass.rmse = elements ? std::sqrt(squared_error / static_cast<double>(elements)) : 0;
  return pass;
}

std::vector<Segment> chunk_segments(uint64_t count, uint32_t chunk_elems) {
  std::vector<Segment> segments;
  for (uint64_t first = 0; first < count; first += chunk_elems)
    segments.push_back(Segment{first, static_cast<size_t>(std::min<uint64_t>(chunk_elems, count - first))});
  return segments;
}

// What the step is searched on: a larger tensor's kSampleSegments runs of kSampleElems /
// kSampleSegments elements spread over it (rows differ), else the tensor's chunks themselves.
std::vector<Segment> sample_segments(uint64_t count, uint32_t chunk_elems) {
  if (count <= kSampleElems) return chunk_segments(count, chunk_elems);
  std::vector<Segment> segments;
  const size_t run = kSampleElems / kSampleSegments;
  for (size_t k = 0; k < kSampleSegments; ++k)
    segments.push_back(Segment{(count - run) * k / (kSampleSegments - 1), run});
  return segments;
}

struct ValueStats {
  double rms = 0;        // of the finite elements
  double max_abs = 0;
  std::vector<double> sample;  // up to 2^16 finite values, evenly spread, for the first rate model
};

ValueStats value_stats(const TensorRef& tensor) {
  const size_t esize = static_cast<size_t>(dtype_bytes(tensor.dtype));
  ValueStats stats;
  double sum_sq = 0;
  uint64_t finite = 0;
  const uint64_t stride = std::max<uint64_t>(1, tensor.count >> 16);
  for (uint64_t i = 0; i < tensor.count; ++i) {
    const double v = load_float(tensor.dtype, tensor.data + i * esize);
    if (!std::isfinite(v)) continue;
    sum_sq += v * v;
    ++finite;
    stats.max_abs = std::max(stats.max_abs, std::fabs(v));
    if (i % stride == 0) stats.sample.push_back(v);
  }
  stats.rms = finite ? std::sqrt(sum_sq / static_cast<double>(finite)) : 0;
  return stats;
}

void put_f64(ByteWriter& w, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  w.u64(bits);
}

}  // namespace

EncodedTensor DqCodec::encode(const TensorRef& tensor, const DqOptions& options) {
  NNZ_CHECK(std::isfinite(options.rmse) && options.rmse > 0, invalid_argument, "dq: the RMSE bound must be finite and > 0");
  NNZ_CHECK(dtype_info(tensor.dtype).kind == DTypeKind::floating, invalid_argument,
            "dq: only float tensors can be coded at an RMSE bound");
  NNZ_CHECK(options.chunk_elems >= 1 && options.chunk_elems <= kDqMaxChunkElems, invalid_argument,
            "dq: chunk size must be between 1 and 2^28 elements");
  // What the passes measure must be within the bound with room for the rounding of their sums.
  const double bound = options.rmse * (1 - kSumRounding);
  const ValueStats stats = value_stats(tensor);
  // Where zeroing every element meets the bound, a step that rounds everything to 0 does.
  double step = std::min(kMaxStep, stats.rms <= bound ? std::max(4 * stats.max_abs, 2 * bound) : 2 * bound);
  std::vector<double> scaled(stats.sample);
  for (double& v : scaled) v /= step;
  TokenCounts counts = initial_counts(scaled.data(), scaled.size());
  const std::vector<Segment> all = chunk_segments(tensor.count, options.chunk_elems);
  const std::vector<Segment> sample = sample_segments(tensor.count, options.chunk_elems);
  const bool sample_is_all = tensor.count <= kSampleElems;
  Pass best;
  bool found = false;
  // A pass of the whole tensor within the bound, the largest step of them.
  auto consider = [&](Pass& pass) {
    if (pass.rmse <= bound && (!found || pass.step > best.step)) {
      best = std::move(pass);
      found = true;
    }
  };
  // Within the bound, and no larger step would pay: close to the bound, or nothing left to gain.
  auto settled = [&](const Pass& pass, double slack) {
    return pass.rmse <= bound && (pass.rmse >= bound * (1 - slack) || pass.all_zero || pass.rmse == 0);
  };
  // The RMSE grows about in proportion to the step: aim just below the bound.
  auto next_step = [&](double rmse) {
    const double scale = std::isfinite(rmse) ? bound * (1 - kRmseSlack / 2) / std::max(rmse, bound * 1e-3) : 0.5;
    step = std::min(kMaxStep, step * scale);
    NNZ_CHECK(step > 0, invalid_argument, "dq: no step reaches the RMSE bound");
  };
  // 1. The step on the sample (the rate model learns along).
  for (int i = 0; i < kSearchPasses; ++i) {
    Pass pass = code_segments(tensor, sample, options.threads, step, RateModel(counts));
    counts = pass.counts;
    const double rmse = pass.rmse;
    const bool done = settled(pass, kRmseSlack);
    if (sample_is_all) consider(pass);
    if (done) break;
    next_step(rmse);
  }
  // 2. The whole tensor, stepping down until its RMSE is within the bound.
  for (int i = 0; i < kFinalPasses && !(found && settled(best, 4 * kRmseSlack)); ++i) {
    Pass pass = code_segments(tensor, all, options.threads, step, RateModel(counts));
    counts = pass.counts;
    const double rmse = pass.rmse;
    consider(pass);
    next_step(rmse);
    if (rmse > bound && i >= 2) step *= std::pow(0.9, i - 1);  // the model keeps moving: step down faster
  }
  NNZ_CHECK(found, invalid_argument,
            "dq: the RMSE bound is below what this dtype's rounding allows (code the tensor lossless)");

  EncodedTensor result;
  result.codec = kDqCodecId;
  ByteWriter params(result.params);
  put_f64(params, best.step);
  put_f64(params, options.rmse);
  put_f64(params, best.rmse);
  put_f64(params, best.max_error);
  params.u32(options.chunk_elems);
  write_chunk_table(best.chunks, result, "dq");
  return result;
}

}  // namespace nnz
