#!/usr/bin/python3
"""Exports a 6-layer PyTorch transformer encoder for examples/transformer_encoder.cpp.

    /usr/bin/python3 tools/export_encoder_pytorch.py [--out examples/data/generated/encoder_6x512.safetensors]

nn.TransformerEncoder(nn.TransformerEncoderLayer(512, 8, 2048, batch_first=True), 6,
norm=nn.LayerNorm(512)) with PyTorch's default initialisation (seeded) and small random biases and
norm parameters (so that a mixed-up name cannot pass unnoticed). The file holds the module's
state_dict under its own names (float32, about 76 MB, hence generated rather than committed) and a
self-test: selftest.input (4, 40, 512), selftest.key_lengths (4,) int64 and selftest.output, what
PyTorch 1.13 returns in eval mode under no_grad with src_key_padding_mask = positions beyond each
length. That is the encoder's fast path, which zeroes padded positions before the final norm (so
they equal norm.bias); the C++ declaration reproduces it with tfm::zero_padded_positions. The
script checks the fast path's real positions against a float64 run of the general path within the
recorded tolerance.
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

D, HEADS, FF, LAYERS = 512, 8, 2048, 6
BATCH, SEQ = 4, 40
LENGTHS = [40, 33, 17, 1]
ATOL, RTOL = 2e-4, 2e-3


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "examples", "data", "generated",
                                                  "encoder_6x512.safetensors"))
    out = os.path.normpath(ap.parse_args().out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    torch.manual_seed(1706)

    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True)
    encoder = nn.TransformerEncoder(layer, LAYERS, norm=nn.LayerNorm(D)).eval()
    with torch.no_grad():
        for name, p in encoder.named_parameters():
            if name.endswith("bias"):
                p.copy_((torch.rand_like(p) * 2 - 1) * 0.1)
            elif "norm" in name:
                p.copy_(1.0 + (torch.rand_like(p) * 2 - 1) * 0.1)
    x = torch.randn(BATCH, SEQ, D)
    padding = torch.arange(SEQ).unsqueeze(0) >= torch.tensor(LENGTHS).unsqueeze(1)

    with torch.no_grad():
        fast = encoder(x, src_key_padding_mask=padding)
    encoder64 = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True), LAYERS,
        norm=nn.LayerNorm(D)).double().eval()
    encoder64.load_state_dict({k: v.double() for k, v in encoder.state_dict().items()})
    general = encoder64(x.double(), src_key_padding_mask=padding).detach()  # grad on: general path

    bias = encoder.norm.bias.detach().double()
    for b, n in enumerate(LENGTHS):
        assert torch.allclose(fast[b, n:].double(), bias.expand(SEQ - n, D), atol=1e-6)
        err = (fast[b, :n].double() - general[b, :n]).abs()
        assert (err <= ATOL + RTOL * general[b, :n].abs()).all(), f"fast path off by {err.max()}"

    tensors = {k: v.detach().float().numpy() for k, v in encoder.state_dict().items()}
    tensors["selftest.input"] = x.numpy()
    tensors["selftest.key_lengths"] = np.array(LENGTHS, dtype=np.int64)
    tensors["selftest.output"] = fast.numpy()
    config = {"framework": "pytorch", "module": "nn.TransformerEncoder", "layers": LAYERS, "d_model": D,
              "heads": HEADS, "dim_feedforward": FF, "norm": True, "batch_first": True,
              "fast_path": True, "atol": ATOL, "rtol": RTOL}
    # selftest.atol / selftest.rtol: the tolerance load_weights(..., verify::on) applies.
    safetensors_io.write(out, tensors, {"config": json.dumps(config, sort_keys=True),
                                        "selftest.atol": repr(ATOL), "selftest.rtol": repr(RTOL),
                                        "torch_version": torch.__version__})
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
