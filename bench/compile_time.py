#!/usr/bin/python3
"""What a user's translation unit costs to compile: CPU seconds and peak memory of the compiler,
per translation unit, against the targets of issue "The compiler as the user meets it".

    /usr/bin/python3 bench/compile_time.py [--compilers g++-12,clang++-14] [--repeat N]
                                           [--only NAME,...] [--header-only]

Each translation unit is compiled as a user would (`-std=c++20 -O2 -march=native -c`), one at a
time, REPEAT times; the table gives the medians. CPU seconds are the compiler's user + system
time and peak memory its largest resident set (the driver's and cc1plus's, from wait4), so other
load on the machine moves them less than wall time. The units (bench/compile_time/ and
examples/):

  dependencies_only        xtensor, xsimd and nlohmann-json headers: the baseline
  umbrella_only            <typeformer/typeformer.hpp>, nothing instantiated
  encoder_1_layer,         README.md's encoder program (declare, load, run with padding,
  encoder_6_layers           summary) with 1 and 6 layers
  encoder_decoder_1_layer, an encoder-decoder (nn.Transformer's two stacks) decoded greedily,
  encoder_decoder_12_layers  1 and 12 layers each
  multi_head_lstm, attention_is_all_you_need, transformer_encoder, keras_wrapper_attention
                           the example programs
  variants_0, variants_4   plain causal attention through the expression API, alone and with
                           four score/mask variants (sliding window, ALiBi, soft-capping,
                           documents), each a call of its own

By default every unit is compiled as a program linking typeformer::typeformer compiles it: with
TYPEFORMER_COMPILED_KERNELS=1 and TYPEFORMER_COMPILED_IO=1 (the kernels declared extern and the
weight reader declared only), and the two units that define them, src/compiled_kernels.cpp and
src/compiled_io.cpp, are measured too: a program pays them once, and not again when only its
model changes. With --header-only the units are compiled as against typeformer::header_only (or
an include path alone): each unit compiles the kernels and the reader itself.
(--compiled-kernels, the default's name before it was the default, is accepted.)

Targets checked: the umbrella header costs at most 1 s more than the dependencies alone; each
encoder program and example at most 8 s, 600 MB with g++ and 400 MB with clang; the
12-layer encoder-decoder at most 1.2 times the 1-layer one; one more variant in a unit at most
1.5 s and 40 MB ((variants_4 - variants_0) / 4; issue "Attention as an expression", item 7).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITS = os.path.join(ROOT, "bench", "compile_time")
EXAMPLES = os.path.join(ROOT, "examples")

CASES = [
    ("dependencies_only", os.path.join(UNITS, "dependencies_only.cpp")),
    ("umbrella_only", os.path.join(UNITS, "umbrella_only.cpp")),
    ("encoder_1_layer", os.path.join(UNITS, "encoder_1_layer.cpp")),
    ("encoder_6_layers", os.path.join(UNITS, "encoder_6_layers.cpp")),
    ("encoder_decoder_1_layer", os.path.join(UNITS, "encoder_decoder_1_layer.cpp")),
    ("encoder_decoder_12_layers", os.path.join(UNITS, "encoder_decoder_12_layers.cpp")),
    ("multi_head_lstm", os.path.join(EXAMPLES, "multi_head_lstm.cpp")),
    ("attention_is_all_you_need", os.path.join(EXAMPLES, "attention_is_all_you_need.cpp")),
    ("transformer_encoder", os.path.join(EXAMPLES, "transformer_encoder.cpp")),
    ("keras_wrapper_attention", os.path.join(EXAMPLES, "keras_wrapper_attention.cpp")),
    ("variants_0", os.path.join(UNITS, "variants_0.cpp")),
    ("variants_4", os.path.join(UNITS, "variants_4.cpp")),
]
COMPILED_UNITS = [("compiled_kernels", os.path.join(ROOT, "src", "compiled_kernels.cpp")),
                  ("compiled_io", os.path.join(ROOT, "src", "compiled_io.cpp"))]
PROGRAMS = {"encoder_1_layer", "encoder_6_layers", "multi_head_lstm", "attention_is_all_you_need",
            "transformer_encoder", "keras_wrapper_attention"}


def compile_once(compiler: str, source: str, extra: list[str]) -> tuple[float, float]:
    """(CPU seconds, peak MB) of one compile; raises on a compile error."""
    with tempfile.TemporaryDirectory() as out:
        command = [compiler, "-std=c++20", "-O2", "-march=native", *extra, "-c", source,
                   "-o", os.path.join(out, "unit.o"), "-I", os.path.join(ROOT, "include"),
                   f'-DTYPEFORMER_EXAMPLE_DATA="{os.path.join(EXAMPLES, "data")}"']
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        errors = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{errors.decode(errors='replace')}")
        return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--compilers", default="g++-12,clang++-14")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", help="NAME,...: these units only")
    ap.add_argument("--header-only", action="store_true",
                    help="compile the kernels and the weight reader in every unit, as against "
                         "typeformer::header_only")
    ap.add_argument("--compiled-kernels", action="store_true", help="the default (kept name)")
    args = ap.parse_args()
    if args.header_only and args.compiled_kernels:
        print("--header-only and --compiled-kernels exclude each other", file=sys.stderr)
        return 2
    compiled = not args.header_only
    cases = CASES + (COMPILED_UNITS if compiled else [])
    flags = ["-DTYPEFORMER_COMPILED_KERNELS=1", "-DTYPEFORMER_COMPILED_IO=1"] if compiled else []
    print("as typeformer::typeformer compiles a program (the kernels' and the reader's units "
          "measured on their own)" if compiled else "header-only (typeformer::header_only)")
    only = set(args.only.split(",")) if args.only else None
    if only and only - {name for name, _ in cases}:
        print(f"unknown units: {sorted(only - {name for name, _ in cases})}", file=sys.stderr)
        return 2
    results: dict[tuple[str, str], tuple[float, float]] = {}
    print(f"{'unit':28} {'compiler':12} {'CPU s':>7} {'peak MB':>8}  target")
    failed = False
    for compiler in args.compilers.split(","):
        clang = "clang" in compiler
        for name, source in cases:
            if only and name not in only:
                continue
            runs = [compile_once(compiler, source, flags) for _ in range(args.repeat)]
            seconds = statistics.median(r[0] for r in runs)
            megabytes = statistics.median(r[1] for r in runs)
            results[(compiler, name)] = (seconds, megabytes)
            verdict = ""
            if name in PROGRAMS:
                limit_mb = 400 if clang else 600
                ok = seconds <= 8 and megabytes <= limit_mb
                verdict = f"<= 8 s, <= {limit_mb} MB: {'met' if ok else 'NOT MET'}"
                failed |= not ok
            print(f"{name:28} {compiler:12} {seconds:7.2f} {megabytes:8.0f}  {verdict}", flush=True)
        base, umbrella = results.get((compiler, "dependencies_only")), results.get(
            (compiler, "umbrella_only"))
        if base and umbrella:
            extra = umbrella[0] - base[0]
            print(f"  umbrella header over the dependencies: {extra:+.2f} s, "
                  f"{umbrella[1] - base[1]:+.0f} MB (target <= 1 s: "
                  f"{'met' if extra <= 1 else 'NOT MET'})")
            failed |= extra > 1
        one, twelve = results.get((compiler, "encoder_decoder_1_layer")), results.get(
            (compiler, "encoder_decoder_12_layers"))
        if one and twelve:
            ratio = twelve[0] / one[0]
            print(f"  12-layer over 1-layer encoder-decoder: {ratio:.2f}x "
                  f"(target <= 1.2: {'met' if ratio <= 1.2 else 'NOT MET'})")
            failed |= ratio > 1.2
        plain, four = results.get((compiler, "variants_0")), results.get((compiler, "variants_4"))
        if plain and four:
            seconds, megabytes = (four[0] - plain[0]) / 4, (four[1] - plain[1]) / 4
            ok = seconds <= 1.5 and megabytes <= 40
            print(f"  one more score/mask variant: {seconds:+.2f} s, {megabytes:+.0f} MB "
                  f"(target <= 1.5 s, <= 40 MB: {'met' if ok else 'NOT MET'})")
            failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
