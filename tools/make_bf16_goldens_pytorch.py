#!/usr/bin/python3
"""Writes tests/data/bf16/pytorch_*.safetensors: references for layers whose weight matrices are
stored as bfloat16 (typeformer's weights_stored_as<weight_format::bfloat16>).

Run with Debian's interpreter (it has torch 1.13):
    /usr/bin/python3 tools/make_bf16_goldens_pytorch.py [--out tests/data/bf16]

Cases: an encoder layer, a decoder layer, and a dense layer (nn.Linear -> gelu) over enough rows
that the GEMM takes its widening-once path. Each file holds the module's float32 state_dict under PyTorch's names (what a user loads: the
rounding to bfloat16 happens when typeformer packs the weights), `golden.input` (and
`golden.memory` for the decoder), `golden.key_lengths`, and three outputs:

- `golden.output`: PyTorch in float64 (general path, gradients enabled) after every weight
  matrix (every parameter of rank 2) is rounded with `.bfloat16()`; biases and norms stay float32.
  This is what typeformer's bf16-weight layers compute, so the stated tolerance is float32's.
- `golden.output_float32_weights`: the same module with its float32 weights, in float64: what
  the rounding costs, with its own, looser, stated tolerance.
- `golden.output_bf16_products`: as `golden.output`, and the input of every product with a
  weight matrix (every `F.linear`'s input, inside nn.MultiheadAttention too) rounded with
  `.bfloat16()` as well: what weights_stored_as<weight_format::bfloat16_products> computes
  (vdpbf16ps's arithmetic: bfloat16 times bfloat16, summed in float32).
- `golden.output_torch_bfloat16`: the module and inputs converted to bfloat16 (`module.bfloat16()`),
  PyTorch's own bfloat16 inference, for comparison only: it rounds activations too.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

D, HEADS, FF, B, L, MEMORY = 64, 4, 96, 2, 9, 7
LENGTHS = [9, 6]
MEMORY_LENGTHS = [7, 4]
# Against the rounded-weights reference: float32 arithmetic, as for the float32 layers.
ATOL, RTOL = 5e-5, 2e-4
# Against the float32-weights reference, a bound on the largest difference relative to the
# largest output: |ours - reference| <= BF16_ATOL + BF16_RTOL * max|reference| everywhere. Each
# weight is off by at most 2^-8 relative; through a layer (sums of 64-96 products, a softmax,
# a LayerNorm) that moved outputs by up to 0.6% of the largest one here (0.025 of 4.2 for the
# encoder, 0.14 of 24.6 for the pre-norm decoder, whose outputs are not normalised). The bound is
# about twice what these cases reach (asserted below).
BF16_ATOL, BF16_RTOL = 1e-2, 1e-2
# The same kind of bound for bfloat16 products (inputs rounded too, 2^-8 relative each, as the
# weights): twice as wide. These cases reach 0.44 of it at most (the pre-norm decoder).
PRODUCTS_ATOL, PRODUCTS_RTOL = 2e-2, 2e-2


def randomise(module, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "." in name and name.split(".")[-2].startswith("norm") and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * 0.25)


def with_bf16_matrices(module):
    """A copy whose rank-2 parameters are rounded to bfloat16 (nearest, ties to even)."""
    rounded = copy.deepcopy(module)
    with torch.no_grad():
        for p in rounded.parameters():
            if p.dim() == 2:
                p.copy_(p.bfloat16().float())
    return rounded


def padding(lengths, length):
    return torch.arange(length).unsqueeze(0) >= torch.tensor(lengths).unsqueeze(1)


def run_bf16_products(module, inputs, kwargs):
    """run() in float64 with the weight matrices rounded, and each F.linear's input rounded too.

    nn.Linear and nn.MultiheadAttention (through F.multi_head_attention_forward, which calls the
    module-level `linear`) both reach torch.nn.functional.linear, so replacing it for the call
    rounds the input of every product with a weight matrix, and nothing else."""
    functional = torch.nn.functional
    linear = functional.linear

    def rounded_linear(x, weight, bias=None):
        return linear(x.to(torch.bfloat16).to(x.dtype), weight, bias)

    functional.linear = rounded_linear
    try:
        return run(with_bf16_matrices(module), inputs, kwargs, torch.float64)
    finally:
        functional.linear = linear


def run(module, inputs, kwargs, dtype):
    m = copy.deepcopy(module).to(dtype).eval()
    kwargs = {k: v.to(dtype) if v.is_floating_point() else v for k, v in kwargs.items()}
    with torch.enable_grad():  # the general path: 1.13's fused fast path has no float64
        y = m(*[t.to(dtype) for t in inputs], **kwargs)
    return y.detach().double()


def write(out_dir, name, module, tensors, config):
    state = {k: v.detach().float().numpy() for k, v in module.state_dict().items()}
    state.update({k: v.numpy() for k, v in tensors.items()})
    config = dict(config, framework="pytorch", d_model=D, heads=HEADS, dim_feedforward=FF,
                  atol=ATOL, rtol=RTOL, bf16_atol=BF16_ATOL, bf16_rtol=BF16_RTOL,
                  products_atol=PRODUCTS_ATOL, products_rtol=PRODUCTS_RTOL)
    safetensors_io.write(os.path.join(out_dir, name + ".safetensors"), state,
                         {"config": json.dumps(config, sort_keys=True),
                          "torch_version": torch.__version__})


def case(out, name, module, inputs, kwargs, extra, config):
    rounded = run(with_bf16_matrices(module), inputs, kwargs, torch.float64)
    exact = run(module, inputs, kwargs, torch.float64)
    torch_bf16 = run(module, inputs, kwargs, torch.bfloat16)
    products = run_bf16_products(module, inputs, kwargs)
    # The stated bound must hold with room to spare, or it is wrong for this data.
    bound = BF16_ATOL + BF16_RTOL * exact.abs().max()
    moved = (rounded - exact).abs().max()
    assert moved <= bound / 1.5, f"bf16-weight outputs moved {moved.item():.3e}, bound {bound:.3e}"
    moved_products = (products - exact).abs().max()
    products_bound = PRODUCTS_ATOL + PRODUCTS_RTOL * exact.abs().max()
    assert moved_products <= products_bound / 1.5, f"bf16 products moved {moved_products:.3e}"
    # The inputs' rounding is visible beside the weights' (a test tells the two apart).
    apart = (products - rounded).abs().max()
    assert apart > 20 * ATOL, f"bf16 products differ from bf16 weights by only {apart.item():.3e}"
    print(f"{name}: max|output| {exact.abs().max().item():.2f}, bound {bound.item():.2e}; "
          f"max|bf16 weights - float32| {moved.item():.2e}, "
          f"max|bf16 products - float32| {moved_products.item():.2e} "
          f"(bound {products_bound.item():.2e}), "
          f"max|bf16 products - bf16 weights| {apart.item():.2e}, "
          f"max|torch bfloat16 - float32| {(torch_bf16 - exact).abs().max().item():.2e}")
    tensors = dict(extra)
    tensors["golden.output"] = rounded.float()
    tensors["golden.output_float32_weights"] = exact.float()
    tensors["golden.output_bf16_products"] = products.float()
    tensors["golden.output_torch_bfloat16"] = torch_bf16.float()
    write(out, name, module, tensors, config)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                      "data", "bf16"))
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)

    encoder = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, activation="relu",
                                         batch_first=True)
    randomise(encoder, 31)
    x = torch.randn(B, L, D)
    case(out, "pytorch_encoder_layer_bf16_weights", encoder, [x],
         {"src_key_padding_mask": padding(LENGTHS, L)},
         {"golden.input": x, "golden.key_lengths": torch.tensor(LENGTHS, dtype=torch.int64)},
         {"description": "nn.TransformerEncoderLayer (post-norm, relu), padding mask; weight "
                         "matrices rounded to bfloat16, float64"})

    decoder = nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, activation="gelu",
                                         batch_first=True, norm_first=True)
    randomise(decoder, 32)
    x = torch.randn(B, L, D)
    memory = torch.randn(B, MEMORY, D)
    causal = torch.triu(torch.full((L, L), float("-inf")), 1)
    case(out, "pytorch_decoder_layer_bf16_weights", decoder, [x, memory],
         {"tgt_mask": causal, "memory_key_padding_mask": padding(MEMORY_LENGTHS, MEMORY)},
         {"golden.input": x, "golden.memory": memory,
          "golden.memory_lengths": torch.tensor(MEMORY_LENGTHS, dtype=torch.int64)},
         {"description": "nn.TransformerDecoderLayer (norm_first, gelu), causal tgt_mask, memory "
                         "padding; weight matrices rounded to bfloat16, float64"})

    # A dense layer over 36 rows: enough that the GEMM widens its panels once per row block.
    dense = DenseGelu(D, 40)
    randomise(dense, 33)
    x = torch.randn(4, L, D)
    case(out, "pytorch_dense_gelu_bf16_weights", dense, [x], {}, {"golden.input": x},
         {"description": "nn.Linear(64, 40) -> exact gelu over (4, 9, 64); weight matrix rounded "
                         "to bfloat16, float64"})


class DenseGelu(nn.Module):
    """nn.Linear followed by gelu, with the Linear's own parameter names (weight, bias)."""

    def __init__(self, inputs, outputs):
        super().__init__()
        linear = nn.Linear(inputs, outputs)
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x):
        return nn.functional.gelu(nn.functional.linear(x, self.weight, self.bias))


if __name__ == "__main__":
    main()
