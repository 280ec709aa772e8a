#!/usr/bin/python3
"""Writes tests/data/layers/pytorch_layer_norm*.safetensors: reference data from torch.nn.LayerNorm.

Run with Debian's interpreter (it has torch 1.13):
    /usr/bin/python3 tools/make_layer_goldens_pytorch.py [--out tests/data/layers]

Parameters and inputs are seeded float32 values (inputs shifted by a large mean, which a one-pass
variance would cancel); the module runs in float64 and the output is stored as F32 rounded from it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def layer_norm_case(out_dir, name, width, eps, seed, description):
    torch.manual_seed(seed)
    norm = nn.LayerNorm(width, eps=eps)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(width))
        norm.bias.copy_(torch.randn(width))
    x = torch.randn(2, 5, width) * 3.0 + 50.0
    norm64 = nn.LayerNorm(width, eps=eps).double()
    norm64.load_state_dict({k: v.double() for k, v in norm.state_dict().items()})
    with torch.no_grad():
        y = norm64(x.double()).float()
    config = {"framework": "pytorch", "d_model": width, "epsilon": eps, "atol": 1e-5, "rtol": 1e-4,
              "description": description}
    tensors = {"weight": norm.weight.detach().numpy(), "bias": norm.bias.detach().numpy(),
               "golden.input": x.numpy(), "golden.output": y.numpy()}
    safetensors_io.write(os.path.join(out_dir, name + ".safetensors"), tensors,
                         {"config": json.dumps(config, sort_keys=True), "torch_version": torch.__version__})


def feed_forward_case(out_dir, name, width, hidden, activation, seed, description):
    torch.manual_seed(seed)
    linear1, linear2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
    with torch.no_grad():
        for p in list(linear1.parameters()) + list(linear2.parameters()):
            p.copy_(torch.randn_like(p) * 0.3)
    x = torch.randn(2, 5, width)
    act = {"relu": nn.ReLU(), "gelu": nn.GELU(), "gelu_tanh": nn.GELU(approximate="tanh")}[activation]
    block64 = nn.Sequential(linear1, act, linear2).double()
    with torch.no_grad():
        y = block64(x.double()).float()
    config = {"framework": "pytorch", "d_model": width, "width": hidden, "activation": activation,
              "atol": 1e-5, "rtol": 1e-4, "description": description}
    tensors = {"linear1.weight": linear1.weight.detach().float().numpy(),
               "linear1.bias": linear1.bias.detach().float().numpy(),
               "linear2.weight": linear2.weight.detach().float().numpy(),
               "linear2.bias": linear2.bias.detach().float().numpy(),
               "golden.input": x.numpy(), "golden.output": y.numpy()}
    safetensors_io.write(os.path.join(out_dir, name + ".safetensors"), tensors,
                         {"config": json.dumps(config, sort_keys=True), "torch_version": torch.__version__})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "layers"))
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)
    layer_norm_case(out, "pytorch_layer_norm", 37, 1e-5, 1,
                    "nn.LayerNorm(37) with PyTorch's default eps 1e-5, float64 reference, inputs with mean ~50")
    layer_norm_case(out, "pytorch_layer_norm_eps1e-6", 37, 1e-6, 2,
                    "nn.LayerNorm(37, eps=1e-6), as Keras practice declares, float64 reference")
    for act, seed in (("relu", 3), ("gelu", 4), ("gelu_tanh", 5)):
        feed_forward_case(out, "pytorch_feed_forward_" + act, 30, 53, act, seed,
                          f"linear1 (30->53) -> {act} -> linear2 (53->30), as in nn.TransformerEncoderLayer, float64 reference")


if __name__ == "__main__":
    main()
