// Every committed corpus input, seeds and past crashes alike, through the fuzz targets' bodies:
// in every build (and so under ASan + UBSan in CI), not only in the fuzzing preset.

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <typeformer/io/safetensors.hpp>

#include "fuzz_inputs.hpp"

namespace {

std::vector<std::byte> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) out[i] = static_cast<std::byte>(chars[i]);
  return out;
}

template <class Target>
std::size_t replay(const char* target, Target body) {
  const std::filesystem::path dir = std::filesystem::path(TYPEFORMER_FUZZ_CORPUS) / target;
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    CAPTURE(entry.path().filename().string());
    body(read_bytes(entry.path()));  // aborts on a broken invariant
    ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("fuzz corpus: every safetensors_file input is accepted or refused with format_error") {
  CHECK(replay("safetensors_file", typeformer_fuzz::safetensors_file) >= 50);
}

TEST_CASE("fuzz corpus: every load_weights input loads and runs, or throws a typed error") {
  CHECK(replay("load_weights", typeformer_fuzz::load_weights) >= 50);
}

TEST_CASE("fuzz corpus: every weight_conversion input converts and runs, or throws weight_error") {
  CHECK(replay("weight_conversion", typeformer_fuzz::weight_conversion) >= 12);
}

TEST_CASE("fuzz corpus: every tfjs_model input loads, or throws format_error / weight_error") {
  CHECK(replay("tfjs_model", typeformer_fuzz::tfjs_model) >= 25);
}

// The structure-aware mutator's reach: from the empty input (an empty corpus), repeated
// mutation must produce the input of the self-test defect ("Hostile files that an outside test
// got through", case 1) -- selftest.input with no elements and an extent of 2^20 or more -- and
// every mutated input must pass through the target's body (accepted, or refused with a typed
// error) on the fixed code.
TEST_CASE("fuzz mutator: from the empty input it reaches a zero-element self-test of huge extent") {
  std::vector<std::byte> input;
  std::size_t reached_at = 0;
  for (std::uint64_t step = 1; step <= 3000 && reached_at == 0; ++step) {
    input = typeformer_fuzz::mutate_weight_file(input, step);
    typeformer_fuzz::load_weights(input);
    try {
      const auto file = typeformer::io::safetensors_file::from_bytes(input);
      if (const auto* t = file.find("selftest.input"); t && t->element_count() == 0)
        for (const std::int64_t extent : t->shape)
          if (extent >= (std::int64_t{1} << 20)) reached_at = step;
    } catch (const typeformer::format_error&) {
    }
  }
  INFO("reached after " << reached_at << " mutations");
  CHECK(reached_at > 0);
}

TEST_CASE("fuzz mutator: model.json mutations pass through the tfjs target's body") {
  const auto seeds = typeformer_fuzz::tfjs_model_seeds(TYPEFORMER_TEST_DATA);
  for (const auto& seed : seeds) {
    if (seed.name.find("dense_norm") == std::string::npos) continue;
    std::vector<std::byte> input = seed.bytes;
    for (std::uint64_t step = 1; step <= 40; ++step) {
      input = typeformer_fuzz::mutate_tfjs_model(input, step * 7919);
      typeformer_fuzz::tfjs_model(input);  // aborts on a broken invariant
    }
  }
}
