#!/usr/bin/python3
"""Writes tests/data/layers/*.safetensors: reference data from torch.nn.LayerNorm, linear blocks,
nn.Linear + activation (dense), nn.Embedding and the tutorials' positional encodings.

Run with Debian's interpreter (it has torch 1.13):
    /usr/bin/python3 tools/make_layer_goldens_pytorch.py [--out tests/data/layers]

Parameters and inputs are seeded float32 values (inputs shifted by a large mean, which a one-pass
variance would cancel); the module runs in float64 and the output is stored as F32 rounded from it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
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


ACTIVATIONS = {"linear": nn.Identity(), "relu": nn.ReLU(), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(),
               "softmax": nn.Softmax(dim=-1), "gelu": nn.GELU(), "gelu_tanh": nn.GELU(approximate="tanh")}


def write_case(out_dir, name, tensors, config):
    safetensors_io.write(os.path.join(out_dir, name + ".safetensors"), tensors,
                         {"config": json.dumps(config, sort_keys=True), "torch_version": torch.__version__})


def dense_case(out_dir, name, inputs, units, activation, bias, seed, description):
    torch.manual_seed(seed)
    linear = nn.Linear(inputs, units, bias=bias)
    with torch.no_grad():
        for p in linear.parameters():
            p.copy_(torch.randn_like(p) * 0.4)
    x = torch.randn(2, 5, inputs)
    block64 = nn.Sequential(linear, ACTIVATIONS[activation]).double()
    with torch.no_grad():
        y = block64(x.double()).float()
    tensors = {"weight": linear.weight.detach().float().numpy(), "golden.input": x.numpy(),
               "golden.output": y.numpy()}
    if bias:
        tensors["bias"] = linear.bias.detach().float().numpy()
    write_case(out_dir, name, tensors,
               {"framework": "pytorch", "d_model": inputs, "units": units, "activation": activation,
                "bias": bias, "atol": 1e-5, "rtol": 1e-4, "description": description})


def embedding_case(out_dir, seed):
    torch.manual_seed(seed)
    table = nn.Embedding(37, 12)
    ids = torch.tensor([[0, 36, 5, 5, 17], [1, 2, 3, 35, 0]], dtype=torch.int64)
    with torch.no_grad():
        y = table(ids)
    write_case(out_dir, "pytorch_embedding",
               {"weight": table.weight.detach().numpy(), "golden.ids": ids.numpy().astype("int32"),
                "golden.output": y.numpy()},
               {"framework": "pytorch", "vocabulary": 37, "dim": 12, "atol": 0.0, "rtol": 0.0,
                "description": "nn.Embedding(37, 12) on ids including 0 and vocabulary-1: an exact copy"})


def tutorial_positional_encoding(d_model, max_len):
    """The PositionalEncoding buffer of PyTorch's "Language Translation with nn.Transformer" and
    "Language Modeling with nn.Transformer" tutorials, computed in float64."""
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


def tensorflow_tutorial_positional_encoding(length, depth):
    """positional_encoding() of TensorFlow's "Neural machine translation with a Transformer and
    Keras" tutorial (numpy, float64): [sin | cos] halves with the same frequencies."""
    depth = depth / 2
    positions = np.arange(length)[:, np.newaxis]
    depths = np.arange(depth)[np.newaxis, :] / depth
    angle_rads = positions * (1 / (10000 ** depths))
    return np.concatenate([np.sin(angle_rads), np.cos(angle_rads)], axis=-1)


def positions_cases(out_dir, seed):
    torch.manual_seed(seed)
    d, length = 12, 41
    x = torch.randn(2, length, d)
    pe = tutorial_positional_encoding(d, length)
    y = (x.double() + pe).float()
    write_case(out_dir, "pytorch_sinusoidal_positions", {"golden.input": x.numpy(), "golden.output": y.numpy()},
               {"framework": "pytorch", "d_model": d, "atol": 1e-6, "rtol": 1e-6,
                "description": "x + PositionalEncoding of PyTorch's transformer tutorials (interleaved sin, cos), float64"})
    pe_tf = torch.from_numpy(tensorflow_tutorial_positional_encoding(length, d))
    y_tf = (x.double() + pe_tf).float()
    write_case(out_dir, "tensorflow_sinusoidal_positions_concatenated",
               {"golden.input": x.numpy(), "golden.output": y_tf.numpy()},
               {"framework": "keras", "d_model": d, "atol": 1e-6, "rtol": 1e-6,
                "description": "x + positional_encoding() of TensorFlow's transformer tutorial ([sin | cos]), float64"})
    table = nn.Embedding(9, d)
    x9 = torch.randn(3, 7, d)
    with torch.no_grad():
        y9 = (x9.double() + table.weight.double()[torch.arange(7)]).float()
    write_case(out_dir, "pytorch_position_embedding",
               {"weight": table.weight.detach().numpy(), "golden.input": x9.numpy(), "golden.output": y9.numpy()},
               {"framework": "pytorch", "d_model": d, "positions": 9, "atol": 1e-6, "rtol": 1e-6,
                "description": "x + nn.Embedding(9, 12)(arange(7)), a learned position table, float64"})


def lstm_cases(out_dir, seed):
    """nn.LSTM, batch_first, float64: two stacked layers from a given state (every output and the
    final states) and one layer from zeros (only the last output, Keras's default form)."""
    torch.manual_seed(seed)
    stacked = nn.LSTM(13, 9, num_layers=2, batch_first=True)
    x = torch.randn(3, 7, 13)
    h0, c0 = torch.randn(2, 3, 9), torch.randn(2, 3, 9)
    stacked64 = nn.LSTM(13, 9, num_layers=2, batch_first=True).double()
    stacked64.load_state_dict({k: v.double() for k, v in stacked.state_dict().items()})
    with torch.no_grad():
        y, (hn, cn) = stacked64(x.double(), (h0.double(), c0.double()))
    tensors = {"lstm." + k: v.detach().numpy() for k, v in stacked.state_dict().items()}
    tensors.update({"golden.input": x.numpy(), "golden.h0": h0.numpy(), "golden.c0": c0.numpy(),
                    "golden.output": y.float().numpy(), "golden.hn": hn.float().numpy(),
                    "golden.cn": cn.float().numpy()})
    write_case(out_dir, "pytorch_lstm_stacked", tensors,
               {"framework": "pytorch", "d_model": 13, "units": 9, "num_layers": 2, "atol": 1e-5,
                "rtol": 1e-4, "description": "nn.LSTM(13, 9, num_layers=2, batch_first=True) from "
                "random (h0, c0): output, h_n, c_n; float64 reference"})
    single = nn.LSTM(6, 16, batch_first=True)
    x = torch.randn(4, 11, 6) * 2.0
    single64 = nn.LSTM(6, 16, batch_first=True).double()
    single64.load_state_dict({k: v.double() for k, v in single.state_dict().items()})
    with torch.no_grad():
        y, _ = single64(x.double())
    tensors = {"lstm." + k: v.detach().numpy() for k, v in single.state_dict().items()}
    tensors.update({"golden.input": x.numpy(), "golden.output": y[:, -1].float().numpy()})
    write_case(out_dir, "pytorch_lstm_last", tensors,
               {"framework": "pytorch", "d_model": 6, "units": 16, "num_layers": 1, "atol": 1e-5,
                "rtol": 1e-4, "description": "nn.LSTM(6, 16, batch_first=True) from zeros, the last "
                "step's output only; float64 reference"})


def conv1d_cases(out_dir, seed):
    """nn.Conv1d on channels-last data (transposed in and out), float64."""
    torch.manual_seed(seed)
    cases = (("pytorch_conv1d_valid", dict(kernel_size=3), 10),
             ("pytorch_conv1d_same_dilated", dict(kernel_size=4, padding="same", dilation=2), 9),
             ("pytorch_conv1d_strided_dilated", dict(kernel_size=3, stride=2, dilation=2), 12))
    for name, options, length in cases:
        conv = nn.Conv1d(5, 7, **options)
        x = torch.randn(2, length, 5)
        conv64 = nn.Conv1d(5, 7, **options).double()
        conv64.load_state_dict({k: v.double() for k, v in conv.state_dict().items()})
        with torch.no_grad():
            y = conv64(x.double().transpose(1, 2)).transpose(1, 2).float().contiguous()
        write_case(out_dir, name, {"conv.weight": conv.weight.detach().numpy(),
                                   "conv.bias": conv.bias.detach().numpy(),
                                   "golden.input": x.numpy(), "golden.output": y.numpy()},
                   {"framework": "pytorch", "d_model": 5, "filters": 7, "options": options,
                    "atol": 1e-5, "rtol": 1e-4,
                    "description": f"nn.Conv1d(5, 7, {options}) on (batch, {length}, 5) channels-last "
                    "data (transposed for PyTorch and back); float64 reference"})


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
    for i, act in enumerate(("linear", "relu", "tanh", "sigmoid", "softmax", "gelu")):
        dense_case(out, "pytorch_dense_" + act, 29, 19, act, True, 10 + i,
                   f"nn.Linear(29, 19) -> {act}, float64 reference")
    dense_case(out, "pytorch_dense_no_bias", 29, 19, "relu", False, 20,
               "nn.Linear(29, 19, bias=False) -> relu, float64 reference")
    embedding_case(out, 21)
    positions_cases(out, 22)
    lstm_cases(out, 23)
    conv1d_cases(out, 24)


if __name__ == "__main__":
    main()
