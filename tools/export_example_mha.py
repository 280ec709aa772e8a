#!/usr/bin/python3
"""Writes examples/data/aiayn_mha.safetensors: the attention block of "Attention Is All You Need"
(d_model 512, 8 heads) with a self-test sample, for examples/attention_is_all_you_need.cpp.

    /usr/bin/python3 tools/export_example_mha.py [--out examples/data/aiayn_mha.safetensors]

nn.MultiheadAttention(512, 8, batch_first=True) with PyTorch's default weight init (seeded) and small
random biases (the default init zeroes them); every parameter is rounded to a float16-representable
value so that storing it as F16 is exact. selftest.input (64, 5, 512) is random float32;
selftest.output is PyTorch's eval-mode self-attention output for it, computed in float64 on exactly
those values and rounded to F32. The script also runs the module in float32 and checks that PyTorch's
own float32 result meets the recorded atol/rtol, so the tolerances are honest for a float32 engine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ATOL, RTOL = 1e-4, 1e-3
E, HEADS, BATCH, SEQ = 512, 8, 64, 5


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "examples", "data", "aiayn_mha.safetensors"))
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(2017)

    mha = nn.MultiheadAttention(E, HEADS, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_bias.copy_((torch.rand(3 * E) * 2 - 1) * 0.1)
        mha.out_proj.bias.copy_((torch.rand(E) * 2 - 1) * 0.1)
        for prm in mha.parameters():
            prm.copy_(prm.half().float())  # float16-representable float32 values
    x = torch.randn(BATCH, SEQ, E, dtype=torch.float32)

    state = {k: v.detach().clone() for k, v in mha.state_dict().items()}
    with torch.no_grad():
        out32, _ = mha(x, x, x, need_weights=False)
    mha64 = mha.double()
    x64 = x.double()
    with torch.no_grad():
        out64, _ = mha64(x64, x64, x64, need_weights=False)
    out64 = out64.numpy()
    ref = out64.astype(np.float32)
    err = np.abs(out32.numpy().astype(np.float64) - out64)
    slack = err - (ATOL + RTOL * np.abs(out64))
    assert slack.max() < 0, f"float32 PyTorch misses the recorded tolerance by {slack.max()}"

    tensors = {}
    for k, v in state.items():
        h = v.numpy().astype(np.float16)
        assert np.array_equal(h.astype(np.float32), v.numpy()), k
        tensors[k] = h
    tensors["selftest.input"] = x.numpy()
    tensors["selftest.output"] = ref

    config = {
        "framework": "pytorch",
        "heads": HEADS,
        "d_model": E,
        "kdim": E,
        "vdim": E,
        "key_dim_per_head": E // HEADS,
        "value_dim_per_head": E // HEADS,
        "output_dim": E,
        "bias": True,
        "causal": "none",
        "atol": ATOL,
        "rtol": RTOL,
        "description": (
            "Attention block of 'Attention Is All You Need' (d_model 512, 8 heads): torch "
            f"{torch.__version__} nn.MultiheadAttention(512, 8, batch_first=True), default weight init "
            "(seed 2017) with random biases in [-0.1, 0.1], every parameter rounded to float16 and stored "
            "as exact F16. selftest.output is the eval-mode self-attention of selftest.input (64, 5, 512) "
            "computed by PyTorch in float64 and rounded to F32; atol/rtol are sized for a float32 "
            f"engine (PyTorch's own float32 run differs by at most {err.max():.2e})."
        ),
    }
    metadata = {
        "config": json.dumps(config),
        "generator": "tools/export_example_mha.py",
        "torch_version": torch.__version__,
        "seed": "2017",
    }
    safetensors_io.write(out, tensors, metadata)
    back, meta = safetensors_io.read(out)
    for k, v in tensors.items():
        assert np.array_equal(back[k], v), k
    assert meta == metadata
    print(f"{out}: {os.path.getsize(out)} bytes; float32-vs-float64 max abs diff {err.max():.3e}")


if __name__ == "__main__":
    main()
