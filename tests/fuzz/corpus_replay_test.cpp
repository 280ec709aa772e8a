// Every committed corpus input, seeds and past crashes alike, through the fuzz targets' bodies:
// in every build (and so under ASan + UBSan in CI), not only in the fuzzing preset.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

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
