// The worst hostile inputs found so far, each read in a child process whose CPU time and peak
// memory are measured: every one must be refused within 5 s of CPU and 512 MB (the bound
// docs/reliability.md states). A child that blocks (a FIFO opened for reading) is killed by an
// alarm and fails the test. The files are written to disk in pieces, so the parent stays small
// and the child's peak is the reader's own.
//
// The bounds are checked in optimised builds without sanitizers (ASan's shadow memory and a
// debug build's speed are not the library's); every build checks that each input is refused
// with the expected message.

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <typeformer/typeformer.hpp>

#include "scratch_directory.hpp"

namespace tfm = typeformer;
namespace fs = std::filesystem;
using namespace tfm::dims;

namespace {

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TYPEFORMER_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TYPEFORMER_TEST_SANITIZED 1
#endif

#if defined(NDEBUG) && !defined(TYPEFORMER_TEST_SANITIZED)
constexpr bool bounds_checked = true;
#else
constexpr bool bounds_checked = false;
#endif

constexpr double max_cpu_seconds = 5.0;
constexpr long max_resident_mb = 512;

const std::string tfjs_dir = std::string(TYPEFORMER_TEST_DATA) + "/tfjs/";

using dense_norm = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<10>, max_batch<2>, max_seq<6>>,
    tfm::dense<"hidden", 16, tfm::activations::relu>, tfm::layer_norm<"norm", tfm::epsilon<1, -5>>,
    tfm::dense<"out", 4>>;

struct outcome {
  int status;  // 0: refused with the expected message
  double cpu_seconds;
  long resident_mb;
};

// Runs `read` in a child; it must throw a typeformer::error whose message holds `expected`.
outcome run_in_child(const std::function<void()>& read, const std::string& expected) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::alarm(60);  // a blocked open() ends the child instead of the test run (60 s: ASan, 2 jobs)
    int status = 2;
    try {
      read();
    } catch (const tfm::error& e) {
      status = std::string(e.what()).find(expected) != std::string::npos ? 0 : 1;
      if (status != 0) std::fprintf(stderr, "unexpected message: %s\n", e.what());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "not a typeformer::error: %s\n", e.what());
      status = 3;
    }
    std::fflush(nullptr);
    ::_exit(status);
  }
  int wait_status = 0;
  ::rusage usage{};
  REQUIRE(::wait4(pid, &wait_status, 0, &usage) == pid);
  const double cpu = double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                     1e-6 * double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  const int status =
      WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 100 + WTERMSIG(wait_status);
  return {status, cpu, usage.ru_maxrss / 1024};
}

// Writes `pieces` times `piece` after `head` and before `tail`, without holding the whole.
fs::path write_repeated(const fs::path& path, const std::string& head, const std::string& piece,
                        std::size_t pieces, const std::string& tail) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << head;
  std::string chunk;
  for (std::size_t i = 0; i < pieces; ++i) {
    chunk += piece;
    if (chunk.size() > (1u << 20)) {
      out << chunk;
      chunk.clear();
    }
  }
  out << chunk << tail;
  return path;
}

std::string little_endian_u64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

struct hostile_case {
  std::string what;
  std::function<void()> read;
  std::string expected;
};

}  // namespace

TEST_CASE("bounds: every hostile input is refused within 5 s of CPU and 512 MB") {
  const typeformer_test::scratch_directory dir("typeformer-bounds");
  std::vector<hostile_case> cases;
  const auto safetensors = [](fs::path p) {
    return [p] { (void)tfm::io::safetensors_file::open(p); };
  };
  const auto tfjs = [](fs::path p) { return [p] { (void)tfm::io::tfjs_layers_model::open(p); }; };
  const auto manifest = [](fs::path p) { return [p] { (void)tfm::weight_manifest::open(p); }; };

  // A 2 GiB sparse file whose header describes one byte: refused from its size, not read.
  {
    const std::string header = R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
    const fs::path p =
        dir.write("sparse.safetensors", little_endian_u64(header.size()) + header + "x");
    fs::resize_file(p, std::uintmax_t{2} << 30);
    cases.push_back({"2 GiB sparse safetensors, header describes 1 byte", safetensors(p),
                     "trailing bytes after the last tensor"});
  }
  // A 100 MB header of zero-size tensors (1.8 million of them before the tensor limit).
  {
    const std::string piece = R"("0000000":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)";
    const std::size_t pieces = (100'000'000 - 2) / piece.size();
    const std::size_t length = pieces * piece.size() + 1;  // the last ',' becomes '}'
    // Names must differ: each piece's name is its index, padded to 7 digits.
    std::ofstream out(dir / "many_tensors.safetensors", std::ios::binary);
    out << little_endian_u64(length) << '{';
    std::string chunk;
    for (std::size_t i = 0; i < pieces; ++i) {
      std::string name = std::to_string(i);
      name.insert(0, 7 - name.size(), '0');
      std::string entry = piece;
      entry.replace(1, 7, name);
      if (i + 1 == pieces) entry.back() = '}';
      chunk += entry;
      if (chunk.size() > (1u << 20)) {
        out << chunk;
        chunk.clear();
      }
    }
    out << chunk;
    out.close();
    cases.push_back({"100 MB header of 1.6 million zero-size tensors",
                     safetensors(dir / "many_tensors.safetensors"), "more than 262144 tensors"});
  }
  // The largest header the format allows, one metadata string of ~100 MB: accepted by the
  // format, refused here only for what follows (no tensors, trailing bytes).
  {
    const std::string head = R"({"__metadata__":{"a":")", tail = R"("}})";
    const std::size_t fill = 100'000'000 - head.size() - tail.size();
    const fs::path p = write_repeated(dir / "big_metadata.safetensors",
                                      little_endian_u64(100'000'000) + head, "x", fill, tail + "!");
    cases.push_back({"100 MB header: one metadata string", safetensors(p),
                     "belong to no tensor (the header lists no tensors)"});
  }
  // A 60 MB model.json of self-test values.
  {
    const fs::path p = write_repeated(
        dir / "values/model.json",
        R"({"userDefinedMetadata":{"typeformer_selftest":{"input":{"shape":[1],"values":[)", "0,",
        30'000'000, "0]}}}}");
    cases.push_back({"60 MB model.json of self-test values", tfjs(p), "JSON values (the limit)"});
  }
  // A model.json of a million layers.
  {
    fs::create_directories(dir / "layers");
    const fs::path p =
        write_repeated(dir / "layers/model.json",
                       R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[)",
                       R"({"class_name":"Dense","config":{"name":"d"}},)", 1'000'000,
                       R"({"class_name":"Dense","config":{"name":"e"}}]}},"weightsManifest":[]})");
    cases.push_back({"model.json of a million layers", tfjs(p), "JSON values (the limit)"});
  }
  // Just under the value limit: 250,000 layers parse, then fail the declaration's check.
  {
    std::ofstream out(dir / "layers_under_limit/model.json", std::ios::binary);
    fs::create_directories(dir / "layers_under_limit");
    out.open(dir / "layers_under_limit/model.json", std::ios::binary);
    out << R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[)";
    for (int i = 0; i < 249'990; ++i)
      out << R"({"class_name":"Dense","config":{"name":"d)" << i << R"("}},)";
    out << R"({"class_name":"Dense","config":{"name":"e"}}]}},"weightsManifest":[]})";
    out.close();
    const fs::path p = dir / "layers_under_limit/model.json";
    cases.push_back({"model.json of 250,000 layers, loaded into a model",
                     [p] { (void)tfm::load_weights<dense_norm>(p, tfm::naming::keras); },
                     "is not in model.json, whose layers are d0 (Dense), d1 (Dense)"});
  }
  // One 1 MiB shard listed 4096 times; an empty shard listed a million times.
  {
    const nlohmann::json model =
        nlohmann::json::parse(typeformer_test::file_text(tfjs_dir + "dense_norm/model.json"));
    nlohmann::json repeated = model;
    repeated["weightsManifest"][0]["paths"] = std::vector<std::string>(4096, "big.bin");
    dir.write("repeat/model.json", repeated.dump());
    write_repeated(dir / "repeat/big.bin", "", std::string(1024, '\0'), 1024, "");
    cases.push_back(
        {"a 1 MiB shard listed 4096 times", tfjs(dir / "repeat/model.json"), "is listed twice"});
    repeated["weightsManifest"][0]["paths"] = std::vector<std::string>(900'000, "empty.bin");
    dir.write("repeat_empty/model.json", repeated.dump());
    dir.write("repeat_empty/empty.bin", "");
    cases.push_back({"an empty shard listed 900,000 times", tfjs(dir / "repeat_empty/model.json"),
                     "is listed twice"});
    // A self-test whose zero-element input states a batch of 2^40.
    nlohmann::json sample = model;
    sample["userDefinedMetadata"]["typeformer_selftest"]["input"]["shape"] = {std::int64_t{1} << 40,
                                                                              0, 10};
    sample["userDefinedMetadata"]["typeformer_selftest"]["input"]["values"] =
        nlohmann::json::array();
    dir.write("sample/model.json", sample.dump());
    fs::copy_file(tfjs_dir + "dense_norm/model.weights.bin", dir / "sample/model.weights.bin");
    const fs::path p = dir / "sample/model.json";
    cases.push_back(
        {"self-test input of shape [2^40, 0, 10]",
         [p] { (void)tfm::load_weights<dense_norm>(p, tfm::naming::keras, tfm::verify::on); },
         "more than the model's max_batch (2)"});
  }
  // A 16 MB manifest of values.
  {
    const fs::path p =
        write_repeated(dir / "manifest.json", R"({"tensors":[)", "0,", 8'000'000, "0]}");
    cases.push_back({"16 MB manifest of values", manifest(p), "JSON values (the limit)"});
  }
  // Devices and a FIFO as each kind of file.
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  for (const fs::path& p : {fs::path("/dev/zero"), fs::path("/dev/urandom"), dir / "fifo"}) {
    cases.push_back(
        {p.filename().string() + " as safetensors", safetensors(p), "not a regular file"});
    cases.push_back({p.filename().string() + " as model.json", tfjs(p), "not a regular file"});
    cases.push_back({p.filename().string() + " as a manifest", manifest(p), "not a regular file"});
  }

  for (const hostile_case& c : cases) {
    const outcome o = run_in_child(c.read, c.expected);
    std::printf("  %-52s %6.2f s CPU %6ld MB%s\n", c.what.c_str(), o.cpu_seconds, o.resident_mb,
                o.status == 0 ? "" : "  FAILED");
    INFO(c.what << ": " << o.cpu_seconds << " s CPU, " << o.resident_mb << " MB");
    CHECK(o.status == 0);
    if (bounds_checked) {
      CHECK(o.cpu_seconds <= max_cpu_seconds);
      CHECK(o.resident_mb <= max_resident_mb);
    }
  }
}
