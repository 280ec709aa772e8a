#pragma once
// ONNX Runtime timed in the same alternating blocks as our kernels: a Node.js child process
// (bench/onnxruntime/ort_bench.mjs --serve) holds one session and times a block of runs on
// request. Timed once at the start of the run instead, ORT's ratios to ours moved by up to 16%
// between runs while OpenBLAS's stayed within 2%: the VM's speed drifts over minutes, and only
// interleaving puts the drift on both alike. The pipe's round trip falls between blocks, outside
// every timed call; ORT's own per-call binding overhead (tens of µs) stays inside, as in the
// stand-alone harness.

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bench_timing.hpp"
#include "onnxruntime_results.hpp"

extern char** environ;

namespace bench {

/// The child process and its pipes. Not started: `running()` is false and nothing is timed.
class ort_peer {
 public:
  ort_peer() = default;

  /// Starts `node <harness> --serve --models <models>`; throws std::runtime_error if it cannot.
  ort_peer(const std::string& harness, const std::string& models) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0) throw std::runtime_error("ort_peer: pipe failed");
    if (pipe(from_child) != 0) {
      ::close(to_child[0]);
      ::close(to_child[1]);
      throw std::runtime_error("ort_peer: pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]})
      posix_spawn_file_actions_addclose(&actions, fd);
    std::string node = "node", serve = "--serve", flag = "--models";
    std::string script = harness, dir = models;
    char* argv[] = {node.data(), script.data(), serve.data(), flag.data(), dir.data(), nullptr};
    const int spawned = posix_spawnp(&pid_, "node", &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(to_child[0]);
    ::close(from_child[1]);
    if (spawned != 0) {
      ::close(to_child[1]);
      ::close(from_child[0]);
      pid_ = -1;
      throw std::runtime_error("ort_peer: cannot start node (Node.js on PATH?)");
    }
    // A child that dies would end us on the next write; the read then reports it instead.
    std::signal(SIGPIPE, SIG_IGN);
    to_ = fdopen(to_child[1], "w");
    from_ = fdopen(from_child[0], "r");
    if (!to_ || !from_) {
      // Without both streams the child's input would never end: stop it now, not in ~ort_peer.
      if (to_)
        std::fclose(to_);
      else
        ::close(to_child[1]);
      if (from_)
        std::fclose(from_);
      else
        ::close(from_child[0]);
      to_ = from_ = nullptr;
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      throw std::runtime_error("ort_peer: fdopen failed");
    }
  }

  ort_peer(const ort_peer&) = delete;
  ort_peer& operator=(const ort_peer&) = delete;
  ort_peer(ort_peer&& other) noexcept { *this = std::move(other); }
  ort_peer& operator=(ort_peer&& other) noexcept {
    std::swap(pid_, other.pid_);
    std::swap(to_, other.to_);
    std::swap(from_, other.from_);
    std::swap(broken_, other.broken_);
    return *this;
  }

  ~ort_peer() {
    if (to_) std::fclose(to_);  // end of input: the child releases its session and exits
    if (from_) std::fclose(from_);
    if (pid_ > 0 && broken_) kill(pid_, SIGTERM);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }

  bool running() const noexcept { return pid_ > 0 && to_ && from_ && !broken_; }

  /// Opens the model `name` (its file name without .onnx) on `threads` intra-op threads, after
  /// the child has checked its outputs against PyTorch's; returns their max |diff|.
  double open(const std::string& name, int threads) {
    return ask({{"cmd", "open"}, {"name", name}, {"threads", threads}})["max_abs_diff"]
        .get<double>();
  }

  /// The wall times in ms of one block: warm-up runs for `warm`, then at least one and at most
  /// `calls` timed runs, stopping once `budget` has passed.
  std::vector<double> block(std::size_t calls, std::chrono::milliseconds budget,
                            std::chrono::milliseconds warm) {
    return ask({{"cmd", "block"},
                {"calls", calls},
                {"ms", budget.count()},
                {"warm_ms", warm.count()}})["times"]
        .get<std::vector<double>>();
  }

  void close() { ask({{"cmd", "close"}}); }

 private:
  nlohmann::json ask(const nlohmann::json& request) {
    if (!running()) throw std::runtime_error("ort_peer: not running");
    const std::string line = request.dump() + '\n';
    // A child that is gone or talks nonsense is not asked again; a model it cannot open is only
    // that model's failure.
    if (std::fputs(line.c_str(), to_) < 0 || std::fflush(to_) != 0) {
      broken_ = true;
      throw std::runtime_error("ort_peer: the child process is gone");
    }
    std::string reply;
    for (int c; (c = std::fgetc(from_)) != EOF && c != '\n';) reply.push_back(char(c));
    auto answer = nlohmann::json::parse(reply, nullptr, /*allow_exceptions=*/false);
    if (answer.is_discarded() || !answer.is_object()) {
      broken_ = true;
      throw std::runtime_error(reply.empty() ? "ort_peer: no answer from the child process"
                                             : "ort_peer: unreadable answer: " + reply);
    }
    if (!answer.value("ok", false))
      throw std::runtime_error("ort_peer: " + answer.value("error", std::string("failed")));
    return answer;
  }

  pid_t pid_ = -1;
  std::FILE* to_ = nullptr;
  std::FILE* from_ = nullptr;
  bool broken_ = false;
};

/// One ORT model as a member of time_interleaved_ms: it times its own blocks in the child.
class ort_blocks {
 public:
  ort_blocks(ort_peer& peer, const std::string& name, int threads) : peer_(&peer) {
    max_abs_diff_ = peer.open(name, threads);
  }
  double max_abs_diff() const noexcept { return max_abs_diff_; }
  std::vector<double> timed_block(std::size_t calls, std::chrono::milliseconds budget,
                                  std::chrono::milliseconds warm) {
    return peer_->block(calls, budget, warm);
  }

 private:
  ort_peer* peer_;
  double max_abs_diff_ = 0;
};

/// ORT's time for one shape and thread count: its fastest variant in the stand-alone run, and
/// that variant's blocks interleaved with ours when the child process runs.
struct ort_measure {
  std::string variant;
  double alone_ms = std::numeric_limits<double>::quiet_NaN();      // bench/onnxruntime/run.sh's
  double peak_rise_mb = std::numeric_limits<double>::quiet_NaN();  // its --peak-memory figure
  bool interleaved = false;
  timing interleaved_ms;  // valid when `interleaved`
  bool found() const noexcept { return !variant.empty(); }
  /// The figure ratios use: interleaved where measured so.
  double median_ms() const noexcept { return interleaved ? interleaved_ms.median : alone_ms; }
  nlohmann::json as_json() const {
    if (!found()) return nullptr;
    return {{"variant", variant},
            {"alone_median_ms", alone_ms},
            {"peak_rise_mb",
             std::isnan(peak_rise_mb) ? nlohmann::json() : nlohmann::json(peak_rise_mb)},
            {"interleaved", interleaved ? bench::as_json(interleaved_ms) : nlohmann::json()}};
  }
};

/// ONNX Runtime as a peer of a C++ benchmark. Flags: --ort FILE (the stand-alone harness's JSON,
/// which names the fastest variant of each shape), --ort-harness FILE and --ort-models DIR (start
/// `node FILE --serve` to time that variant in the same alternating blocks as ours).
class onnxruntime {
 public:
  onnxruntime(int argc, char** argv) {
    std::string harness, models;
    for (int i = 1; i + 1 < argc; ++i) {
      if (std::strcmp(argv[i], "--ort") == 0) results_path_ = argv[i + 1];
      if (std::strcmp(argv[i], "--ort-harness") == 0) harness = argv[i + 1];
      if (std::strcmp(argv[i], "--ort-models") == 0) models = argv[i + 1];
    }
    results_ = ort_results(results_path_);
    if (results_.loaded() && !harness.empty() && !models.empty()) {
      try {
        peer_ = ort_peer(harness, models);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: ORT's stand-alone times are used\n", e.what());
      }
    }
  }

  const ort_results& results() const noexcept { return results_; }

  /// One line on where ORT's figures come from, for a benchmark's header.
  std::string describe() const {
    if (!results_.loaded()) return "no results at " + results_path_ + " (run bench/run.sh)";
    std::string text = "fastest variant in " + results_path_;
    if (peer_.running()) text += ", timed again in alternating blocks with ours (node --serve)";
    return text;
  }

  /// time_interleaved_ms(runs...), with ORT's fastest variant of the shape as one more member
  /// when the child process runs. A failure of the child falls back to the stand-alone time.
  template <class... F>
  std::pair<std::array<timing, sizeof...(F)>, ort_measure> time_with(const std::string& model,
                                                                     long batch, long seq,
                                                                     long d_model, long heads,
                                                                     bool causal, int threads,
                                                                     F&... runs) {
    ort_measure m;
    const ort_time best = results_.best(model, batch, seq, d_model, heads, causal, threads);
    if (best.found()) {
      m.variant = best.variant;
      m.alone_ms = best.median_ms;
      m.peak_rise_mb = best.peak_rise_mb;
    }
    if (best.found() && peer_.running()) {
      try {
        ort_blocks ort(peer_, best.name, threads);
        const auto all = time_interleaved_ms(runs..., ort);
        peer_.close();
        m.interleaved = true;
        m.interleaved_ms = all.back();
        std::array<timing, sizeof...(F)> ours;
        std::copy_n(all.begin(), sizeof...(F), ours.begin());
        return {ours, m};
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: ORT's stand-alone time is used for %s\n", e.what(),
                     best.name.c_str());
      }
    }
    return {time_interleaved_ms(runs...), m};
  }

 private:
  std::string results_path_ = "build/onnx-results.json";
  ort_results results_;
  ort_peer peer_;
};

}  // namespace bench
