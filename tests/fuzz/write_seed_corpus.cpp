// Writes the fuzzers' seed corpus: tests/fuzz/write_seed_corpus DIR fills DIR/safetensors_file,
// DIR/load_weights and DIR/weight_conversion with the valid inputs of fuzz_inputs.cpp and every
// hostile file of tests/hostile_safetensors.hpp, and DIR/tfjs_model with the TensorFlow.js
// fixtures of tests/data/tfjs (valid and hostile) and the weight manifests of tests/data/manifest.
// Crash inputs found later are added by hand (as crash-<what>), never by this program, so rerunning
// it keeps them.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../hostile_safetensors.hpp"
#include "fuzz_inputs.hpp"

namespace {

void write(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

/// "a hole at the start" -> "hostile-a-hole-at-the-start".
std::string file_name(const std::string& what) {
  std::string out = "hostile-";
  for (const char c : what) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (keep)
      out += c;
    else if (out.back() != '-')
      out += '-';
  }
  while (out.back() == '-') out.pop_back();
  return out;
}

constexpr std::size_t max_seed_bytes = 16 * 1024;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  const auto dir = [&](const char* target) {
    std::filesystem::create_directories(root / target);
    return root / target;
  };
  const auto weights = typeformer_fuzz::load_weights_seeds();
  for (const auto& s : weights) {
    write(dir("safetensors_file") / s.name, s.bytes);
    write(dir("load_weights") / s.name, s.bytes);
  }
  for (const auto& h : typeformer_test::hostile_files()) {
    // The 200 KB nesting-depth files would set libFuzzer's input length limit; the unit test
    // keeps them.
    if (h.file.size() > max_seed_bytes) continue;
    write(dir("safetensors_file") / file_name(h.what), h.file);
    write(dir("load_weights") / file_name(h.what), h.file);
  }
  for (const auto& s : typeformer_fuzz::weight_conversion_seeds())
    write(dir("weight_conversion") / s.name, s.bytes);
  for (const auto& s : typeformer_fuzz::tfjs_model_seeds(TYPEFORMER_TEST_DATA)) {
    if (s.bytes.size() > max_seed_bytes) continue;  // as above: libFuzzer's length limit
    write(dir("tfjs_model") / s.name, s.bytes);
  }
  return 0;
}
