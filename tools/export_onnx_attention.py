#!/usr/bin/python3
"""Writes the ONNX models, test inputs and PyTorch reference outputs of the ONNX Runtime peer
(bench/onnxruntime/ort_bench.mjs) into one directory, described by its manifest.json.

    /usr/bin/python3 tools/export_onnx_attention.py OUT_DIR

Needs Debian's python3-torch, python3-numpy and python3-onnx (tools/install-deps.sh installs them).

For each multi-head attention shape (batch, seq, d_model, heads), non-causal and causal:
  plain      torch.onnx.export of nn.MultiheadAttention(d, h, batch_first=True) self-attention;
             the causal form passes a float attn_mask (-inf above the diagonal) that the export
             bakes into the graph as a (seq, seq) constant.
  fused      hand-built: com.microsoft Attention (input, packed QKV weight (d, 3d), bias (3d),
             unidirectional=1 when causal) -> MatMul + Add output projection.
  fused-mha  hand-built: three MatMul + Add projections -> com.microsoft MultiHeadAttention
             (separate Q, K, V; unidirectional=1 when causal) -> MatMul + Add output projection.
All three variants of a shape hold the same weights and are checked against the same PyTorch
output.

With --variants-only, instead: the attention cores of bench/variants_bench.cpp's variants at
(1, 4096, 8 heads) and (8, 1024, 12 heads) of width 64, each in ORT's best form for it
(export_variants): GroupQueryAttention for causal, a sliding window, soft-capping and grouped
heads with rotary embedding; MultiHeadAttention with a dense attention_bias for packed documents
and ALiBi. References are float64 formulas in torch. Plus a TransformerEncoderLayer (plain only), a decode step (plain, fused, fused-mha; see
decode_models) and a (1, 1) Identity whose session.run time is the per-call binding overhead.

Weights are PyTorch's default init under torch.manual_seed, with small random biases (the default
init zeroes them, which would let a dropped bias go unnoticed). Everything is seeded: a rerun on
the same versions writes the same numbers.
"""
from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

OPSET = 17
MHA_SHAPES = [  # (batch, seq, d_model, heads)
    (64, 5, 512, 8),
    (1, 128, 768, 12),
    (8, 128, 768, 12),
    (1, 512, 768, 12),
    (1, 2048, 512, 8),
    (1, 4096, 512, 8),
]
ENCODER = dict(batch=8, seq=128, d_model=768, heads=12, dim_feedforward=3072)
DECODE = dict(d_model=512, heads=8, kv_len=4096)


def seeded_mha(d: int, h: int, seed: int) -> nn.MultiheadAttention:
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(d, h, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_bias.uniform_(-0.1, 0.1)
        mha.out_proj.bias.uniform_(-0.1, 0.1)
    return mha


class SelfAttention(nn.Module):
    """query = key = value = x; the causal mask is a buffer so the export bakes it in."""

    def __init__(self, mha: nn.MultiheadAttention, seq: int, causal: bool):
        super().__init__()
        self.mha = mha
        self.causal = causal
        if causal:
            self.register_buffer("mask", torch.full((seq, seq), float("-inf")).triu(1))

    def forward(self, x):
        mask = self.mask if self.causal else None
        return self.mha(x, x, x, attn_mask=mask, need_weights=False)[0]


def export_torch(module: nn.Module, args: tuple, path: str, input_names, output_names):
    # Exported with gradients enabled on purpose: under no_grad, PyTorch 1.13's eval fast path
    # (aten::_native_multi_head_attention, and the encoder layer's fused kernel) is taken, and it
    # has no ONNX form.
    module.eval()
    with torch.enable_grad():
        torch.onnx.export(module, args, path, opset_version=OPSET, input_names=input_names,
                          output_names=output_names, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))


def mha_weights(mha: nn.MultiheadAttention):
    """PyTorch computes y = x Wᵀ + b; ONNX MatMul wants W transposed, (in, out)."""
    w_qkv = mha.in_proj_weight.detach().numpy().T.copy()  # (d, 3d): columns [q | k | v]
    b_qkv = mha.in_proj_bias.detach().numpy().copy()
    w_out = mha.out_proj.weight.detach().numpy().T.copy()
    b_out = mha.out_proj.bias.detach().numpy().copy()
    return w_qkv, b_qkv, w_out, b_out


def init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name)


def fp32_info(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def save_model(graph: onnx.GraphProto, path: str, contrib: bool):
    opsets = [helper.make_opsetid("", OPSET)]
    if contrib:
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="typeformer")
    # The checker knows no com.microsoft schemas; it still checks structure and the standard ops.
    onnx.checker.check_model(model)
    onnx.save(model, path)


def fused_attention_graph(mha, b, s, d, h, causal) -> onnx.GraphProto:
    w_qkv, b_qkv, w_out, b_out = mha_weights(mha)
    nodes = [
        # Attention splits the packed projection into heads of d/h consecutive columns, exactly
        # as PyTorch splits in_proj's rows, so the packed weight is in_proj_weightᵀ unchanged.
        helper.make_node("Attention", ["x", "w_qkv", "b_qkv"], ["ctx"], domain="com.microsoft",
                         num_heads=h, unidirectional=int(causal)),
        helper.make_node("MatMul", ["ctx", "w_out"], ["ctx_w"]),
        helper.make_node("Add", ["ctx_w", "b_out"], ["y"]),
    ]
    return helper.make_graph(
        nodes, "fused_attention", [fp32_info("x", (b, s, d))], [fp32_info("y", (b, s, d))],
        [init("w_qkv", w_qkv), init("b_qkv", b_qkv), init("w_out", w_out), init("b_out", b_out)])


def projection_nodes():
    """q, k, v = x W + b, as three MatMul + Add (the form MultiHeadAttention takes)."""
    nodes = []
    for name in "qkv":
        nodes += [helper.make_node("MatMul", ["x", f"w_{name}"], [f"{name}_w"]),
                  helper.make_node("Add", [f"{name}_w", f"b_{name}"], [name])]
    return nodes


def split_qkv_inits(mha):
    w_qkv, b_qkv, w_out, b_out = mha_weights(mha)
    d = w_out.shape[0]
    inits = []
    for i, name in enumerate("qkv"):
        inits += [init(f"w_{name}", w_qkv[:, i * d:(i + 1) * d]),
                  init(f"b_{name}", b_qkv[i * d:(i + 1) * d])]
    return inits + [init("w_out", w_out), init("b_out", b_out)]


def fused_mha_graph(mha, b, s, d, h, causal) -> onnx.GraphProto:
    nodes = projection_nodes() + [
        helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["ctx"], domain="com.microsoft",
                         num_heads=h, unidirectional=int(causal)),
        helper.make_node("MatMul", ["ctx", "w_out"], ["ctx_w"]),
        helper.make_node("Add", ["ctx_w", "b_out"], ["y"]),
    ]
    return helper.make_graph(nodes, "fused_mha", [fp32_info("x", (b, s, d))],
                             [fp32_info("y", (b, s, d))], split_qkv_inits(mha))


class DecodeStep(nn.Module):
    """One decode step of self-attention with a key/value cache, in plain torch ops.

    x (1, 1, d) is the new token; past_k, past_v (1, h, L, d/h) are the cache, already projected
    (the keys and values of the L earlier tokens). The step projects x to q, k, v (one packed
    (d, 3d) GEMV), attends with the single query row over the L cached positions plus the new
    token's own k, v (L + 1 keys), and applies the output projection. It returns y and the new
    token's k, v (1, h, 1, d/h) for the caller to append: the cache is read, never copied.
    """

    def __init__(self, mha: nn.MultiheadAttention):
        super().__init__()
        self.mha = mha
        # Python ints, not x.shape: the trace then holds constants instead of Shape/Gather ops.
        self.h = mha.num_heads
        self.d = mha.embed_dim

    def forward(self, x, past_k, past_v):
        d, dh = self.d, self.d // self.h
        qkv = nn.functional.linear(x, self.mha.in_proj_weight, self.mha.in_proj_bias)
        # With one position, (1, 1, d) -> (1, h, 1, dh) is a pure reshape: no transpose needed.
        q, k, v = (t.reshape(1, self.h, 1, dh) for t in qkv.split(d, dim=-1))
        q = q * (1.0 / math.sqrt(dh))
        scores = torch.cat([q @ past_k.transpose(-1, -2), (q * k).sum(-1, keepdim=True)], dim=-1)
        p = scores.softmax(-1)
        ctx = p[..., :-1] @ past_v + p[..., -1:] * v
        y = self.mha.out_proj(ctx.reshape(1, 1, d))
        return y, k, v


def decode_fused_attention_graph(mha, h, L) -> onnx.GraphProto:
    """Attention with `past` (2, 1, h, L, dh): ORT appends the new k, v and must also output
    `present` (2, 1, h, L + 1, dh), i.e. it copies the whole cache every call (the op's contract:
    past and present come together)."""
    w_qkv, b_qkv, w_out, b_out = mha_weights(mha)
    d = w_out.shape[0]
    dh = d // h
    nodes = [
        helper.make_node("Attention", ["x", "w_qkv", "b_qkv", "", "past"], ["ctx", "present"],
                         domain="com.microsoft", num_heads=h),
        helper.make_node("MatMul", ["ctx", "w_out"], ["ctx_w"]),
        helper.make_node("Add", ["ctx_w", "b_out"], ["y"]),
    ]
    return helper.make_graph(
        nodes, "decode_fused_attention",
        [fp32_info("x", (1, 1, d)), fp32_info("past", (2, 1, h, L, dh))],
        [fp32_info("y", (1, 1, d)), fp32_info("present", (2, 1, h, L + 1, dh))],
        [init("w_qkv", w_qkv), init("b_qkv", b_qkv), init("w_out", w_out), init("b_out", b_out)])


def decode_fused_mha_graph(mha, h, L) -> onnx.GraphProto:
    """MultiHeadAttention with past_key / past_value (1, h, L, dh) and the new token's q, k, v
    (1, 1, d); present_key / present_value (1, h, L + 1, dh) are requested too (ORT builds them
    anyway to attend over L + 1 keys, so asking costs nothing extra and keeps the step usable)."""
    d = mha.embed_dim
    dh = d // h
    nodes = projection_nodes() + [
        helper.make_node("MultiHeadAttention",
                         ["q", "k", "v", "", "", "", "past_key", "past_value"],
                         ["ctx", "present_key", "present_value"], domain="com.microsoft",
                         num_heads=h),
        helper.make_node("MatMul", ["ctx", "w_out"], ["ctx_w"]),
        helper.make_node("Add", ["ctx_w", "b_out"], ["y"]),
    ]
    return helper.make_graph(
        nodes, "decode_fused_mha",
        [fp32_info("x", (1, 1, d)), fp32_info("past_key", (1, h, L, dh)),
         fp32_info("past_value", (1, h, L, dh))],
        [fp32_info("y", (1, 1, d)), fp32_info("present_key", (1, h, L + 1, dh)),
         fp32_info("present_value", (1, h, L + 1, dh))],
        split_qkv_inits(mha))


def identity_graph() -> onnx.GraphProto:
    return helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                             [fp32_info("x", (1, 1))], [fp32_info("y", (1, 1))])


class Writer:
    """Writes .onnx / .npy files into out_dir and collects the manifest entries."""

    def __init__(self, out_dir: str):
        self.out = out_dir
        self.entries = []

    def npy(self, name: str, array) -> str:
        if isinstance(array, torch.Tensor):
            array = array.detach().numpy()
        np.save(os.path.join(self.out, name), np.ascontiguousarray(array, dtype=np.float32))
        return name

    def path(self, name: str) -> str:
        return os.path.join(self.out, name)

    def add(self, file: str, model: str, variant: str, inputs: dict, expected, **fields):
        entry = dict(file=file, model=model, variant=variant, inputs=inputs,
                     expected=expected, **fields)
        self.entries.append(entry)
        print(f"  {file}")


def export_mha_shapes(w: Writer):
    for b, s, d, h in MHA_SHAPES:
        mha = seeded_mha(d, h, seed=0)
        torch.manual_seed(7)
        x = torch.randn(b, s, d)
        stem = f"mha_b{b}_s{s}_d{d}_h{h}"
        x_file = w.npy(f"{stem}.x.npy", x)
        for causal in (False, True):
            name = stem + ("_causal" if causal else "")
            module = SelfAttention(mha, s, causal)
            with torch.no_grad():
                ref = module(x)
            ref_file = w.npy(f"{name}.expected.npy", ref)
            shape = dict(batch=b, seq=s, d_model=d, heads=h, causal=causal)
            inputs = {"x": x_file}
            export_torch(module, (x,), w.path(f"{name}.plain.onnx"), ["x"], ["y"])
            w.add(f"{name}.plain.onnx", "mha", "plain", inputs, {"y": ref_file}, **shape)
            save_model(fused_attention_graph(mha, b, s, d, h, causal),
                       w.path(f"{name}.fused.onnx"), contrib=True)
            w.add(f"{name}.fused.onnx", "mha", "fused", inputs, {"y": ref_file}, **shape)
            save_model(fused_mha_graph(mha, b, s, d, h, causal),
                       w.path(f"{name}.fused-mha.onnx"), contrib=True)
            w.add(f"{name}.fused-mha.onnx", "mha", "fused-mha", inputs, {"y": ref_file}, **shape)


def export_encoder(w: Writer):
    b, s, d, h, f = (ENCODER[k] for k in ("batch", "seq", "d_model", "heads", "dim_feedforward"))
    torch.manual_seed(3072)
    layer = nn.TransformerEncoderLayer(d, h, dim_feedforward=f, batch_first=True).eval()
    with torch.no_grad():
        for name, prm in layer.named_parameters():
            if name.endswith("bias") and "norm" not in name:
                prm.uniform_(-0.1, 0.1)
    torch.manual_seed(8)
    x = torch.randn(b, s, d)
    with torch.no_grad():
        ref = layer(x)
    name = f"encoder_b{b}_s{s}_d{d}_h{h}_f{f}"
    x_file = w.npy(f"{name}.x.npy", x)
    ref_file = w.npy(f"{name}.expected.npy", ref)
    export_torch(layer, (x,), w.path(f"{name}.plain.onnx"), ["x"], ["y"])
    w.add(f"{name}.plain.onnx", "encoder", "plain", {"x": x_file}, {"y": ref_file}, batch=b,
          seq=s, d_model=d, heads=h, causal=False, dim_feedforward=f)


def decode_models(w: Writer):
    d, h, L = DECODE["d_model"], DECODE["heads"], DECODE["kv_len"]
    dh = d // h
    mha = seeded_mha(d, h, seed=0)
    torch.manual_seed(9)
    context = torch.randn(1, L, d)  # the L earlier tokens whose keys/values form the cache
    x = torch.randn(1, 1, d)
    with torch.no_grad():
        full = torch.cat([context, x], dim=1)
        # Reference: nn.MultiheadAttention itself, one query against all L + 1 tokens.
        ref = mha(x, full, full, need_weights=False)[0]
        wq, wk, wv = mha.in_proj_weight.split(d)
        bq, bk, bv = mha.in_proj_bias.split(d)

        def heads(t):  # (1, n, d) -> (1, h, n, dh)
            return t.reshape(1, -1, h, dh).transpose(1, 2).contiguous()

        past_k = heads(nn.functional.linear(context, wk, bk))
        past_v = heads(nn.functional.linear(context, wv, bv))
        new_k = heads(nn.functional.linear(x, wk, bk))
        new_v = heads(nn.functional.linear(x, wv, bv))
    name = f"decode_d{d}_h{h}_kv{L}"
    x_file = w.npy(f"{name}.x.npy", x)
    k_file = w.npy(f"{name}.past_k.npy", past_k)
    v_file = w.npy(f"{name}.past_v.npy", past_v)
    past_file = w.npy(f"{name}.past.npy", torch.stack([past_k, past_v]))
    ref_file = w.npy(f"{name}.expected.npy", ref)
    shape = dict(batch=1, seq=1, d_model=d, heads=h, causal=False, kv_len=L)

    export_torch(DecodeStep(mha), (x, past_k, past_v), w.path(f"{name}.plain.onnx"),
                 ["x", "past_k", "past_v"], ["y", "k", "v"])
    new_k_file = w.npy(f"{name}.new_k.npy", new_k)
    new_v_file = w.npy(f"{name}.new_v.npy", new_v)
    w.add(f"{name}.plain.onnx", "decode", "plain", {"x": x_file, "past_k": k_file,
          "past_v": v_file}, {"y": ref_file, "k": new_k_file, "v": new_v_file}, **shape,
          work="q,k,v projection of x (packed GEMV) + scores over L cached keys and the new "
               "key + softmax + weighted sum of L cached values and the new value + output "
               "projection; returns y and the new k, v; the cache is only read")

    save_model(decode_fused_attention_graph(mha, h, L), w.path(f"{name}.fused.onnx"),
               contrib=True)
    w.add(f"{name}.fused.onnx", "decode", "fused", {"x": x_file, "past": past_file},
          {"y": ref_file}, **shape,
          work="as plain, but com.microsoft Attention with past (2,1,h,L,dh): also writes "
               "present (2,1,h,L+1,dh), a copy of the whole cache, every call")
    save_model(decode_fused_mha_graph(mha, h, L), w.path(f"{name}.fused-mha.onnx"),
               contrib=True)
    w.add(f"{name}.fused-mha.onnx", "decode", "fused-mha",
          {"x": x_file, "past_key": k_file, "past_value": v_file}, {"y": ref_file}, **shape,
          work="as plain, but com.microsoft MultiHeadAttention with past_key/past_value: also "
               "writes present_key/present_value (1,h,L+1,dh), a copy of the cache, every call")


VARIANT_SHAPES = [(1, 4096, 8, 64), (8, 1024, 12, 64)]  # (batch, seq, heads, head width)
WINDOW, DOCUMENTS, SOFT_CAP = 256, 16, 30.0


def variant_reference(q, k, v, bias_of_head, scale, cap=None):
    """softmax(cap·tanh(s/cap) or s, plus bias) · v per (batch, head), s = scale·q·kᵀ, in float64;
    q (B, H, S, d), k and v (B, H, S, d) (repeated to every query head)."""
    B, H, S, d = q.shape
    out = torch.empty(B, H, S, d, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            s = scale * (q[b, h].double() @ k[b, h].double().T)
            if cap is not None:
                s = cap * torch.tanh(s / cap)
            s = s + bias_of_head(h)
            out[b, h] = torch.softmax(s, dim=-1) @ v[b, h].double()
    return out.float()


def gqa_graph(b, s, h, kv, d, *, window=-1, softcap=0.0, rotary=None) -> onnx.GraphProto:
    """com.microsoft GroupQueryAttention over a prompt of s positions (no past): query (b, s,
    h·d), key and value (b, s, kv·d), causal; seqlens_k = s − 1 and total_sequence_length = s
    are constants of the graph, as are the rotary cos/sin caches."""
    attrs = dict(num_heads=h, kv_num_heads=kv, scale=1.0 / math.sqrt(d))
    inits = [numpy_helper.from_array(np.full((b,), s - 1, dtype=np.int32), "seqlens_k"),
             numpy_helper.from_array(np.array(s, dtype=np.int32), "total_sequence_length")]
    inputs = ["q", "k", "v", "", "", "seqlens_k", "total_sequence_length"]
    if window > 0:
        attrs["local_window_size"] = window
    if softcap > 0:
        attrs["softcap"] = softcap
    if rotary is not None:
        cos, sin = rotary
        attrs.update(do_rotary=1, rotary_interleaved=0)
        inits += [init("cos_cache", cos), init("sin_cache", sin)]
        inputs += ["cos_cache", "sin_cache"]
    node = helper.make_node("GroupQueryAttention", inputs, ["y", "present_key", "present_value"],
                            domain="com.microsoft", **attrs)
    return helper.make_graph([node], "gqa", [fp32_info("q", (b, s, h * d)),
                                            fp32_info("k", (b, s, kv * d)),
                                            fp32_info("v", (b, s, kv * d))],
                             [fp32_info("y", (b, s, h * d))], inits)


def biased_mha_graph(b, s, h, d, bias: np.ndarray) -> onnx.GraphProto:
    """com.microsoft MultiHeadAttention with the variant as a dense attention_bias (1, h or 1,
    s, s) constant: the mask input a user of ORT writes for a variant GQA has no attribute for."""
    node = helper.make_node("MultiHeadAttention", ["q", "k", "v", "", "", "attention_bias"], ["y"],
                            domain="com.microsoft", num_heads=h, scale=1.0 / math.sqrt(d))
    return helper.make_graph([node], "mha_bias", [fp32_info(n, (b, s, h * d)) for n in "qkv"],
                             [fp32_info("y", (b, s, h * d))], [init("attention_bias", bias)])


def export_variants(w: Writer):
    """The attention cores of bench/variants_bench.cpp's variants, each in ORT's best form:
    GroupQueryAttention where the variant is on its menu (causal, a sliding window, soft-capping,
    grouped heads with rotary embedding), MultiHeadAttention with a dense bias otherwise
    (packed documents; ALiBi at (8, 12, 1024) only: its per-head bias is 512 MiB at 4096)."""
    for b, s, h, d in VARIANT_SHAPES:
        torch.manual_seed(11)
        stem = f"variant_b{b}_s{s}_h{h}"
        q = torch.randn(b, h, s, d)
        k = torch.randn(b, h, s, d)
        v = torch.randn(b, h, s, d)
        flat = lambda t: t.transpose(1, 2).reshape(b, s, -1).contiguous()  # noqa: E731
        files = {n: w.npy(f"{stem}.{n}.npy", flat(t)) for n, t in (("q", q), ("k", k), ("v", v))}
        i = torch.arange(s)[:, None]
        j = torch.arange(s)[None, :]
        neg = torch.tensor(float("-inf"), dtype=torch.float64)
        zero = torch.tensor(0.0, dtype=torch.float64)
        causal = torch.where(j <= i, zero, neg)
        shape = dict(batch=b, seq=s, d_model=h * d, heads=h, causal=True)

        def add(name, graph, reference, inputs=files, **fields):
            save_model(graph, w.path(f"{stem}_{name}.onnx"), contrib=True)
            ref_file = w.npy(f"{stem}_{name}.expected.npy", flat(reference))
            w.add(f"{stem}_{name}.onnx", f"variant:{name}", fields.pop("variant"), inputs,
                  {"y": ref_file}, **shape, **fields)

        scale = 1.0 / math.sqrt(d)
        add("causal", gqa_graph(b, s, h, h, d), variant_reference(q, k, v, lambda _: causal, scale),
            variant="gqa")
        window = torch.where((j <= i) & (i - j < WINDOW), zero, neg)
        # local_window_size W: a row sees itself and the W − 1 keys before it, as ours (checked
        # against the reference: W − 1 and W + 1 differ from it).
        add("sliding_window", gqa_graph(b, s, h, h, d, window=WINDOW),
            variant_reference(q, k, v, lambda _: window, scale), variant="gqa")
        add("soft_cap", gqa_graph(b, s, h, h, d, softcap=SOFT_CAP),
            variant_reference(q, k, v, lambda _: causal, scale, cap=SOFT_CAP), variant="gqa")
        same = (i * DOCUMENTS // s) == (j * DOCUMENTS // s)
        documents = torch.where((j <= i) & same, zero, neg)
        add("documents", biased_mha_graph(b, s, h, d, documents.float().numpy()[None, None]),
            variant_reference(q, k, v, lambda _: documents, scale), variant="mha-bias")
        if s <= 1024:
            slopes = [2.0 ** (-8.0 * (x + 1) / h) for x in range(h)]
            alibi = torch.stack([torch.where(j <= i, m * (j - i).double(), neg) for m in slopes])
            add("alibi", biased_mha_graph(b, s, h, d, alibi.float().numpy()[None]),
                variant_reference(q, k, v, lambda x: alibi[x], scale), variant="mha-bias")
        # Grouped heads (8 over 2, 12 over 4) with half-split rotary embedding, causal.
        kv = 2 if h == 8 else 4
        kg, vg = k[:, :kv], v[:, :kv]
        gfiles = dict(q=files["q"], k=w.npy(f"{stem}.k{kv}.npy", flat(kg)),
                      v=w.npy(f"{stem}.v{kv}.npy", flat(vg)))
        angle = torch.arange(s, dtype=torch.float64)[:, None] * (
            10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d))[None, :]
        cos, sin = angle.cos(), angle.sin()

        def rotate(t):
            t1, t2 = t[..., : d // 2].double(), t[..., d // 2:].double()
            return torch.cat((t1 * cos - t2 * sin, t2 * cos + t1 * sin), dim=-1).float()

        group = h // kv
        add(f"gqa{h}_{kv}_rotary", gqa_graph(b, s, h, kv, d, rotary=(cos.float().numpy(),
                                                                      sin.float().numpy())),
            variant_reference(rotate(q), rotate(kg).repeat_interleave(group, 1),
                              vg.repeat_interleave(group, 1), lambda _: causal, scale),
            inputs=gfiles, variant="gqa", kv_heads=kv)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", help="directory to write the models into (created if missing)")
    ap.add_argument("--variants-only", action="store_true",
                    help="write only the attention variants of bench/variants_bench.cpp (and "
                         "their own manifest, manifest.json in out_dir)")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    # One thread: the reference numbers must not depend on the machine's core count.
    torch.set_num_threads(1)
    w = Writer(args.out_dir)

    print(f"writing into {args.out_dir} (torch {torch.__version__}, onnx {onnx.__version__}, "
          f"opset {OPSET})")
    if args.variants_only:
        export_variants(w)
    else:
        export_mha_shapes(w)
        export_encoder(w)
        decode_models(w)
    save_model(identity_graph(), w.path("identity.onnx"), contrib=False)
    w.add("identity.onnx", "identity", "plain", {"x": w.npy("identity.x.npy", np.ones((1, 1)))},
          {"y": "identity.x.npy"}, batch=1, seq=1, d_model=1, heads=0, causal=False)

    manifest = dict(generator="tools/export_onnx_attention.py", torch=torch.__version__,
                    onnx=onnx.__version__, opset=OPSET, models=w.entries)
    with open(w.path("manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"{len(w.entries)} models; manifest: {w.path('manifest.json')}")


if __name__ == "__main__":
    main()
