#!/usr/bin/python3
"""Writes tests/data/mha/variant_*.safetensors: whole attention layers whose variant is declared
as score and mask functions (docs/expressions.md, "Variants in declared layers"), computed by
PyTorch modules.

Run with Debian's interpreter (torch 1.13 and numpy):
    /usr/bin/python3 tools/make_variant_layer_goldens.py [--out tests/data/mha]
    /usr/bin/python3 tools/make_variant_layer_goldens.py --example examples/data/llama_attention.safetensors

Cases:
- alibi_causal: nn.MultiheadAttention(48, 12 heads, batch_first=True) with ALiBi (Press et al.
  2022, slopes of the authors' get_slopes, 12 heads taking the interleaved extra slopes) and
  causality as one float attn_mask of shape (batch·heads, L, L): m_h·(j − i), −inf above the
  diagonal.
- t5_bidirectional: a T5 encoder self-attention, written from Hugging Face's T5Attention
  (q, k, v, o Linear layers without bias, no score scaling, relative_attention_bias =
  nn.Embedding(32 buckets, heads), bidirectional buckets with max_distance 128, bucket function
  as _relative_position_bucket computes it), with a key padding mask (lengths 150 and 97)
  added as −inf, as T5's extended attention mask does (with torch.finfo.min; no row is fully
  masked, so the two agree).
- sliding_window: nn.MultiheadAttention(32, 4 heads) with a boolean attn_mask hiding keys
  outside a causal window of 40 (key j seen from query i when i − 40 < j ≤ i), over 130
  positions; per-head attention weights are stored too.

- encoder_layer_alibi, decoder_layer_alibi: nn.TransformerEncoderLayer and
  nn.TransformerDecoderLayer (d_model 32, 8 heads) with ALiBi in self-attention as their float
  masks: symmetric −m_h·|j − i| with key padding (encoder), causal m_h·(j − i) with a memory
  (decoder).
- llama: Hugging Face's LlamaAttention written from its definition: 8 query heads over 2
  key/value heads (repeat_kv), rotate_half rotary embedding, causal, no biases.
- gptj: Hugging Face's GPTJAttention written from its definition: interleaved rotary embedding
  (rotate_every_two) over the first 4 of 8 features of each head, causal, no biases.

The T5 weights are named as a checkpoint names them under its block, `SelfAttention.q.weight`,
…, `SelfAttention.relative_attention_bias.weight`; the others as nn.MultiheadAttention's
state_dict; the rotary cases' under `self_attn.` as in a decoder layer.

Weights and inputs are seeded float32 draws (biases nonzero), the modules run in float64 and
outputs are rounded to float32. Each case is also recomputed with an independent numpy formula
(to 1e-10) to guard against mistakes in this script; the stored values are the modules' own.
Tolerance of the tests: |ours − ref| ≤ 2e-5 + 2e-4·|ref| (the fast exponential).
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

ATOL, RTOL = 2e-5, 2e-4


def alibi_slopes(n):
    """The ALiBi authors' get_slopes(n)."""

    def power_of_two(m):
        start = 2 ** (-(2 ** -(math.log2(m) - 3)))
        return [start * start**i for i in range(m)]

    if math.log2(n).is_integer():
        return power_of_two(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_two(closest) + alibi_slopes(2 * closest)[0::2][: n - closest]


def t5_relative_position_bucket(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    """Hugging Face's T5Attention._relative_position_bucket, written from its definition."""
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = max_exact + (
        torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return relative_buckets + torch.where(is_small, relative_position, large)


class T5SelfAttention(nn.Module):
    """Hugging Face's T5Attention (encoder, has_relative_attention_bias) in eval mode."""

    def __init__(self, d_model, d_kv, heads, num_buckets=32, max_distance=128):
        super().__init__()
        self.heads, self.d_kv = heads, d_kv
        self.num_buckets, self.max_distance = num_buckets, max_distance
        inner = heads * d_kv
        self.q = nn.Linear(d_model, inner, bias=False)
        self.k = nn.Linear(d_model, inner, bias=False)
        self.v = nn.Linear(d_model, inner, bias=False)
        self.o = nn.Linear(inner, d_model, bias=False)
        self.relative_attention_bias = nn.Embedding(num_buckets, heads)

    def compute_bias(self, query_length, key_length):
        context_position = torch.arange(query_length, dtype=torch.long)[:, None]
        memory_position = torch.arange(key_length, dtype=torch.long)[None, :]
        relative_position = memory_position - context_position
        buckets = t5_relative_position_bucket(relative_position, True, self.num_buckets, self.max_distance)
        values = self.relative_attention_bias(buckets)  # (q, k, heads)
        return values.permute([2, 0, 1]).unsqueeze(0)  # (1, heads, q, k)

    def forward(self, hidden, key_padding):  # key_padding: True where the key is padding
        B, L, _ = hidden.shape

        def shape(x):
            return x.view(B, -1, self.heads, self.d_kv).transpose(1, 2)

        q, k, v = shape(self.q(hidden)), shape(self.k(hidden)), shape(self.v(hidden))
        scores = torch.matmul(q, k.transpose(3, 2))  # T5 does not scale
        bias = self.compute_bias(L, L).to(scores.dtype)
        mask = torch.zeros(B, 1, 1, L, dtype=scores.dtype).masked_fill(key_padding[:, None, None, :], float("-inf"))
        scores = scores + bias + mask
        weights = torch.softmax(scores.float() if scores.dtype == torch.float32 else scores, dim=-1)
        out = torch.matmul(weights, v).transpose(1, 2).contiguous().view(B, -1, self.heads * self.d_kv)
        return self.o(out)


def randomise(module, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, prm in module.named_parameters():
            if name.endswith("bias") and prm.dim() == 1:
                prm.copy_(torch.randn(prm.shape) * 0.5)
            elif prm.dim() == 2 and "relative_attention_bias" not in name:
                prm.copy_(torch.randn(prm.shape) / math.sqrt(prm.shape[1]))
            else:
                prm.copy_(torch.randn(prm.shape))


def numpy_attention(q, k, v, bias):
    """softmax(q·kᵀ + bias)·v per (batch, head) in float64; bias broadcast to (B, H, Lq, Lk)."""
    s = np.einsum("bhqd,bhkd->bhqk", q, k) + bias
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("bhqk,bhkd->bhqd", p, v), p


def split(x, heads):
    B, L, E = x.shape
    return x.reshape(B, L, heads, E // heads).transpose(0, 2, 1, 3)


def mha_numpy(state, x, heads, bias):
    E = x.shape[-1]
    wq, wk, wv = np.split(state["in_proj_weight"], 3)
    bq, bk, bv = np.split(state["in_proj_bias"], 3)
    q = split(x @ wq.T + bq, heads) / math.sqrt(E // heads)
    k, v = split(x @ wk.T + bk, heads), split(x @ wv.T + bv, heads)
    o, p = numpy_attention(q, k, v, bias)
    B, H, L, d = o.shape
    o = o.transpose(0, 2, 1, 3).reshape(B, L, H * d)
    return o @ state["out_proj.weight"].T + state["out_proj.bias"], p


def write(out_dir, name, tensors, config):
    metadata = {
        "config": json.dumps(config, sort_keys=False),
        "generator": "tools/make_variant_layer_goldens.py",
        "torch_version": torch.__version__,
        "case": name,
    }
    path = os.path.join(out_dir, f"variant_{name}.safetensors")
    safetensors_io.write(path, tensors, metadata)
    back, meta = safetensors_io.read(path)
    for key, value in tensors.items():
        assert np.array_equal(back[key], value, equal_nan=True), (path, key)
    assert meta == metadata
    print(f"{path}: {os.path.getsize(path)} bytes, {len(tensors)} tensors")


def state_of(module):
    return {k: t.detach().numpy().astype(np.float32) for k, t in module.state_dict().items()}


def alibi_causal(out_dir):
    B, L, E, H = 2, 150, 48, 12
    mha = nn.MultiheadAttention(E, H, batch_first=True)
    randomise(mha, 301)
    mha.eval()
    x = torch.randn(B, L, E)
    slopes = torch.tensor(alibi_slopes(H), dtype=torch.float64)
    i = torch.arange(L)[:, None]
    j = torch.arange(L)[None, :]
    bias = slopes[:, None, None] * (j - i).double()  # (H, L, L)
    bias = bias.masked_fill((j > i)[None], float("-inf"))
    attn_mask = bias.unsqueeze(0).expand(B, H, L, L).reshape(B * H, L, L)
    m64 = mha.double()
    out, weights = m64(x.double(), x.double(), x.double(), attn_mask=attn_mask, need_weights=True,
                       average_attn_weights=False)
    out, weights = out.detach().numpy(), weights.detach().numpy()
    state = state_of(mha)
    ref, p = mha_numpy({k: v.astype(np.float64) for k, v in state.items()}, x.double().numpy(), H,
                       bias.numpy()[None])
    assert np.max(np.abs(ref - out)) < 1e-10 and np.max(np.abs(p - weights)) < 1e-10
    tensors = dict(state)
    tensors["golden.query"] = x.numpy()
    tensors["golden.slopes"] = np.asarray(alibi_slopes(H), dtype=np.float32)
    tensors["golden.output"] = out.astype(np.float32)
    write(out_dir, "alibi_causal", tensors, {
        "heads": H, "d_model": E, "atol": ATOL, "rtol": RTOL,
        "description": "nn.MultiheadAttention(48, 12, batch_first=True), float64, self-attention over "
                       "(2, 150, 48), attn_mask (batch*heads, L, L) = slope_h*(j - i), -inf where j > i; "
                       "slopes of the ALiBi authors' get_slopes(12)"})


def t5_bidirectional(out_dir):
    B, L, E, H, d = 2, 150, 32, 4, 8
    lengths = [150, 97]
    t5 = T5SelfAttention(E, d, H)
    randomise(t5, 302)
    t5.eval()
    x = torch.randn(B, L, E)
    padding = torch.arange(L)[None, :] >= torch.tensor(lengths)[:, None]
    out = t5.double()(x.double(), padding).detach().numpy()
    state = state_of(t5)
    s64 = {k: v.astype(np.float64) for k, v in state.items()}
    xs = x.double().numpy()
    q, k, v = (split(xs @ s64[n + ".weight"].T, H) for n in ("q", "k", "v"))
    rel = torch.arange(L)[None, :] - torch.arange(L)[:, None]
    buckets = t5_relative_position_bucket(rel).numpy()
    bias = s64["relative_attention_bias.weight"][buckets].transpose(2, 0, 1)[None]  # (1, H, L, L)
    bias = bias + np.where(padding.numpy()[:, None, None, :], -np.inf, 0.0)
    o, _ = numpy_attention(q, k, v, bias)
    ref = o.transpose(0, 2, 1, 3).reshape(B, L, H * d) @ s64["o.weight"].T
    assert np.max(np.abs(ref - out)) < 1e-10
    # Named as in a T5 checkpoint's first encoder block, under the layer's own name.
    tensors = {"SelfAttention." + k: v for k, v in state.items()}
    tensors["golden.query"] = x.numpy()
    tensors["golden.key_lengths"] = np.asarray(lengths, dtype=np.int32)
    tensors["golden.output"] = out.astype(np.float32)
    write(out_dir, "t5_bidirectional", tensors, {
        "heads": H, "d_model": E, "key_dim_per_head": d, "atol": ATOL, "rtol": RTOL,
        "description": "Hugging Face's T5Attention (encoder, relative_attention_bias Embedding(32, 4), "
                       "bidirectional buckets, max_distance 128, unscaled scores, no biases) written "
                       "from its definition, float64, over (2, 150, 32) with key lengths 150 and 97"})


def sliding_window(out_dir):
    B, L, E, H, W = 2, 130, 32, 4, 40
    mha = nn.MultiheadAttention(E, H, batch_first=True)
    randomise(mha, 303)
    mha.eval()
    x = torch.randn(B, L, E)
    i = torch.arange(L)[:, None]
    j = torch.arange(L)[None, :]
    hidden = (j > i) | (i - j >= W)  # True = masked (nn.MultiheadAttention's bool polarity)
    out, weights = mha.double()(x.double(), x.double(), x.double(), attn_mask=hidden, need_weights=True,
                                average_attn_weights=False)
    out, weights = out.detach().numpy(), weights.detach().numpy()
    state = state_of(mha)
    bias = np.where(hidden.numpy(), -np.inf, 0.0)[None, None]
    ref, p = mha_numpy({k: v.astype(np.float64) for k, v in state.items()}, x.double().numpy(), H, bias)
    assert np.max(np.abs(ref - out)) < 1e-10 and np.max(np.abs(p - weights)) < 1e-10
    tensors = dict(state)
    tensors["golden.query"] = x.numpy()
    tensors["golden.output"] = out.astype(np.float32)
    tensors["golden.attention_weights"] = weights.astype(np.float32)
    write(out_dir, "sliding_window", tensors, {
        "heads": H, "d_model": E, "window": W, "atol": ATOL, "rtol": RTOL,
        "description": "nn.MultiheadAttention(32, 4, batch_first=True), float64, self-attention over "
                       "(2, 130, 32), boolean attn_mask hiding key j from query i unless i - 40 < j <= i; "
                       "per-head attention weights"})


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotate_every_two(x):
    x1, x2 = x[..., ::2], x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


class RotaryAttention(nn.Module):
    """Hugging Face's LlamaAttention (pairs "half_split": rotate_half, cos/sin of cat(freqs,
    freqs)) or GPTJAttention (pairs "interleaved": rotate_every_two, duplicate_interleave, over the
    first rotary_dim features), written from their definitions: q, k, v projections, rotary
    embedding at positions 0…L−1 with inv_freq = 1 / base^(2m / rotary_dim), keys and values
    repeated to every query head (repeat_kv), causal softmax of q·kᵀ/√d, output projection."""

    def __init__(self, d_model, heads, kv_heads, head_dim, pairs, rotary_dim, base, names, bias):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.pairs, self.rotary_dim, self.base, self.names = pairs, rotary_dim, base, names
        for name, (i, o) in zip(names, [(d_model, heads * head_dim), (d_model, kv_heads * head_dim),
                                        (d_model, kv_heads * head_dim), (heads * head_dim, d_model)]):
            setattr(self, name, nn.Linear(i, o, bias=bias))

    def rotate(self, x):  # (B, heads, L, d)
        L, r = x.shape[2], self.rotary_dim
        inv_freq = 1.0 / (self.base ** (torch.arange(0, r, 2, dtype=torch.float64) / r))
        freqs = torch.arange(L, dtype=torch.float64)[:, None] * inv_freq[None, :]
        rot, rest = x[..., :r], x[..., r:]
        if self.pairs == "half_split":
            emb = torch.cat((freqs, freqs), dim=-1)
            rot = rot * emb.cos() + rotate_half(rot) * emb.sin()
        else:
            cos = torch.repeat_interleave(freqs.cos(), 2, dim=-1)
            sin = torch.repeat_interleave(freqs.sin(), 2, dim=-1)
            rot = rot * cos + rotate_every_two(rot) * sin
        return torch.cat((rot, rest), dim=-1)

    def forward(self, x):
        B, L, _ = x.shape
        q_proj, k_proj, v_proj, o_proj = (getattr(self, n) for n in self.names)
        q = q_proj(x).view(B, L, self.heads, self.head_dim).transpose(1, 2)
        k = k_proj(x).view(B, L, self.kv_heads, self.head_dim).transpose(1, 2)
        v = v_proj(x).view(B, L, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = self.rotate(q), self.rotate(k)
        group = self.heads // self.kv_heads
        k = torch.repeat_interleave(k, group, dim=1)
        v = torch.repeat_interleave(v, group, dim=1)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        causal = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(causal, float("-inf"))
        out = torch.matmul(torch.softmax(scores, dim=-1), v)
        return o_proj(out.transpose(1, 2).reshape(B, L, self.heads * self.head_dim))


def rotary_case(out_dir, name, *, seed, heads, kv_heads, pairs, rotary_dim, names, bias, description):
    B, L, E, d = 2, 150, 64, 8
    module = RotaryAttention(E, heads, kv_heads, d, pairs, rotary_dim, 10000.0, names, bias)
    randomise(module, seed)
    module.eval()
    x = torch.randn(B, L, E)
    out = module.double()(x.double()).detach().numpy()
    # Guard: the half-split rotation against the interleaved one on a permuted head, and the
    # rotation's norm-preservation, catch a wrong pairing in this script.
    probe = torch.randn(1, 1, 5, d, dtype=torch.float64)
    assert torch.allclose(module.rotate(probe)[..., rotary_dim:], probe[..., rotary_dim:])
    assert torch.allclose(module.rotate(probe)[..., :rotary_dim].norm(dim=-1), probe[..., :rotary_dim].norm(dim=-1))
    tensors = {"self_attn." + k: v for k, v in state_of(module).items()}
    tensors["golden.query"] = x.numpy()
    tensors["golden.output"] = out.astype(np.float32)
    write(out_dir, name, tensors, {
        "heads": heads, "kv_heads": kv_heads, "d_model": E, "head_dim": d, "rotary_dim": rotary_dim,
        "pairs": pairs, "atol": ATOL, "rtol": RTOL, "description": description})


def transformer_layer_case(out_dir, name, *, seed, decoder, description):
    """nn.TransformerEncoderLayer / nn.TransformerDecoderLayer (d_model 32, 8 heads, feed-forward
    48, batch_first, post-norm, relu) with ALiBi in self-attention through its float mask of
    shape (batch·heads, L, L): symmetric −m_h·|j − i| with key padding for the encoder, causal
    m_h·(j − i) for the decoder (memory of 12 positions, no padding)."""
    B, L, E, H, F, M = 2, 40, 32, 8, 48, 12
    torch.manual_seed(seed)
    cls = nn.TransformerDecoderLayer if decoder else nn.TransformerEncoderLayer
    layer = cls(E, H, F, dropout=0.0, batch_first=True)
    randomise(layer, seed)
    layer.eval()
    x = torch.randn(B, L, E)
    slopes = torch.tensor(alibi_slopes(H), dtype=torch.float64)
    i = torch.arange(L)[:, None]
    j = torch.arange(L)[None, :]
    if decoder:
        bias = (slopes[:, None, None] * (j - i).double()).masked_fill((j > i)[None], float("-inf"))
    else:
        bias = -slopes[:, None, None] * (j - i).abs().double()
    mask = bias.unsqueeze(0).expand(B, H, L, L).reshape(B * H, L, L)
    l64 = layer.double()
    tensors = {}
    # Gradients stay enabled: PyTorch then takes its standard path, not the fused fast path.
    if decoder:
        memory = torch.randn(B, M, E)
        out = l64(x.double(), memory.double(), tgt_mask=mask)
        tensors["golden.memory"] = memory.numpy()
    else:
        lengths = [40, 23]
        padding = torch.arange(L)[None, :] >= torch.tensor(lengths)[:, None]
        out = l64(x.double(), src_mask=mask, src_key_padding_mask=padding)
        tensors["golden.key_lengths"] = np.asarray(lengths, dtype=np.int32)
    tensors.update(state_of(layer))
    tensors["golden.input"] = x.numpy()
    tensors["golden.output"] = out.detach().numpy().astype(np.float32)
    write(out_dir, name, tensors, {"heads": H, "d_model": E, "dim_feedforward": F, "atol": ATOL,
                                   "rtol": RTOL, "description": description})


def example(path):
    """examples/llama_attention.cpp's weights and sample: a LLaMA attention of d_model 128,
    8 query heads over 2 key/value heads of 16, under `self_attn.`, with a self-test (the
    module's output on a (1, 64, 128) sample) that load_weights(..., verify::on) checks."""
    B, L, E = 1, 64, 128
    module = RotaryAttention(E, 8, 2, 16, "half_split", 16, 10000.0,
                             ("q_proj", "k_proj", "v_proj", "o_proj"), False)
    randomise(module, 310)
    module.eval()
    x = torch.randn(B, L, E)
    out = module.double()(x.double()).detach().numpy()
    tensors = {"self_attn." + k: v for k, v in state_of(module).items()}
    tensors["selftest.input"] = x.numpy()
    tensors["selftest.output"] = out.astype(np.float32)
    metadata = {
        "selftest.atol": repr(ATOL), "selftest.rtol": repr(RTOL),
        "config": json.dumps({"atol": ATOL, "rtol": RTOL, "description":
                              "Hugging Face's LlamaAttention written from its definition (d_model 128, 8 "
                              "query heads over 2 key/value heads of 16, rotate_half, causal), float64 "
                              "output on a (1, 64, 128) sample"}),
        "generator": "tools/make_variant_layer_goldens.py --example",
        "torch_version": torch.__version__,
    }
    safetensors_io.write(path, tensors, metadata)
    print(f"{path}: {os.path.getsize(path)} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "mha"))
    ap.add_argument("--example", metavar="FILE",
                    help="write examples/llama_attention.cpp's weights and sample to FILE instead")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.example:
        example(args.example)
        return
    out_dir = os.path.normpath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    alibi_causal(out_dir)
    t5_bidirectional(out_dir)
    sliding_window(out_dir)
    transformer_layer_case(out_dir, "encoder_layer_alibi", seed=306, decoder=False,
                           description="nn.TransformerEncoderLayer(32, 8, 48, batch_first=True), float64, "
                                       "src_mask (batch*heads, L, L) = -slope_h*|j - i| (symmetric ALiBi), "
                                       "key padding with lengths 40 and 23, over (2, 40, 32)")
    transformer_layer_case(out_dir, "decoder_layer_alibi", seed=307, decoder=True,
                           description="nn.TransformerDecoderLayer(32, 8, 48, batch_first=True), float64, "
                                       "tgt_mask (batch*heads, L, L) = slope_h*(j - i), -inf where j > i "
                                       "(causal ALiBi), memory (2, 12, 32), over (2, 40, 32)")
    rotary_case(out_dir, "llama", seed=304, heads=8, kv_heads=2, pairs="half_split", rotary_dim=8,
                names=("q_proj", "k_proj", "v_proj", "o_proj"), bias=False,
                description="Hugging Face's LlamaAttention written from its definition, float64: 8 query "
                            "heads over 2 key/value heads of width 8, d_model 64, rotate_half rotary embedding "
                            "(base 10000) at positions 0..149, causal, no biases, over (2, 150, 64)")
    rotary_case(out_dir, "gptj", seed=305, heads=8, kv_heads=8, pairs="interleaved", rotary_dim=4,
                names=("q_proj", "k_proj", "v_proj", "out_proj"), bias=False,
                description="Hugging Face's GPTJAttention written from its definition, float64: 8 heads of "
                            "width 8, d_model 64, rotate_every_two rotary embedding over the first 4 features "
                            "(base 10000) at positions 0..149, causal, no biases, over (2, 150, 64)")


if __name__ == "__main__":
    main()
