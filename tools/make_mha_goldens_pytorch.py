#!/usr/bin/python3
"""Writes tests/data/mha/pytorch_*.safetensors: reference data from torch.nn.MultiheadAttention.

Run with Debian's interpreter (it has torch 1.13 and numpy):
    /usr/bin/python3 tools/make_mha_goldens_pytorch.py [--out tests/data/mha]

Every case builds nn.MultiheadAttention(batch_first=True) in float32, overwrites all parameters with
seeded random float32 values (PyTorch's default init zeroes the biases, which would hide bias bugs),
draws float32 inputs, then converts the module and inputs to float64 (exact) and runs the module in
eval mode. Gradients stay enabled, so PyTorch takes its standard F.multi_head_attention_forward path
(not the fused fast path), which is also the path that returns per-head attention weights.
Weights/inputs are stored as F32 (exact), outputs as F32 rounded from float64.

As a guard against mistakes in *this script* (mask polarity, names, shapes), each case is also
recomputed with an independent numpy float64 formula and must agree to 1e-12; the stored values are
always PyTorch's own output.
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

ATOL, RTOL = 1e-5, 1e-4


def rand_f32(*shape, scale=1.0):
    return torch.randn(*shape, dtype=torch.float32) * scale


def causal_mask_bool(lq, lk, alignment):
    """True = masked (PyTorch bool attn_mask polarity)."""
    i = torch.arange(lq).unsqueeze(1)
    j = torch.arange(lk).unsqueeze(0)
    if alignment == "top_left":
        return j > i
    if alignment == "bottom_right":
        return j > i + (lk - lq)
    raise ValueError(alignment)


def bool_to_additive(mask_bool):
    add = torch.zeros(mask_bool.shape, dtype=torch.float32)
    return add.masked_fill(mask_bool, float("-inf"))


def numpy_reference(p, q, k, v, heads, attn_add, kpm):
    """Independent float64 formula (only used to check this script, never stored)."""
    E = q.shape[-1]
    if "in_proj_weight" in p:
        wq, wk, wv = np.split(p["in_proj_weight"], 3, axis=0)
    else:
        wq, wk, wv = p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"]
    bq = bk = bv = np.zeros(E)
    if "in_proj_bias" in p:
        bq, bk, bv = np.split(p["in_proj_bias"], 3)
    Q = q @ wq.T + bq
    K = k @ wk.T + bk
    V = v @ wv.T + bv
    B, Lq, _ = Q.shape
    Lk = K.shape[1]
    dh = E // heads
    Q = Q.reshape(B, Lq, heads, dh).transpose(0, 2, 1, 3)
    K = K.reshape(B, Lk, heads, dh).transpose(0, 2, 1, 3)
    V = V.reshape(B, Lk, heads, dh).transpose(0, 2, 1, 3)
    S = np.einsum("bhqd,bhkd->bhqk", Q, K) / math.sqrt(dh)
    if attn_add is not None:
        S = S + attn_add
    if kpm is not None:
        S = np.where(kpm[:, None, None, :], -np.inf, S)
    with np.errstate(invalid="ignore"):
        m = S.max(-1, keepdims=True)
        P = np.exp(S - m)
        P = P / P.sum(-1, keepdims=True)
    O = np.einsum("bhqk,bhkd->bhqd", P, V).transpose(0, 2, 1, 3).reshape(B, Lq, E)
    O = O @ p["out_proj.weight"].T
    if "out_proj.bias" in p:
        O = O + p["out_proj.bias"]
    return O, P


def make_case(out_dir, name, *, seed, B, Lq, Lk, E, heads, kdim=None, vdim=None, bias=True,
              inputs="cross", causal="none", attn_mask_kind=None, key_lengths=None,
              expect_nan_batches=(), description):
    torch.manual_seed(seed)
    kdim_ = kdim or E
    vdim_ = vdim or E
    mha = nn.MultiheadAttention(E, heads, bias=bias, kdim=kdim, vdim=vdim, batch_first=True)
    mha.eval()
    with torch.no_grad():
        for pname, prm in mha.named_parameters():
            if pname.endswith("bias"):
                prm.copy_(rand_f32(*prm.shape, scale=0.5))
            else:
                prm.copy_(rand_f32(*prm.shape, scale=1.0 / math.sqrt(prm.shape[1])))

    # inputs (float32 draws)
    if inputs == "self":
        assert Lq == Lk and kdim_ == E and vdim_ == E
        x = rand_f32(B, Lq, E)
        q32 = k32 = v32 = x
    elif inputs == "kv_shared":  # key and value are the same tensor
        assert kdim_ == vdim_
        q32 = rand_f32(B, Lq, E)
        k32 = v32 = rand_f32(B, Lk, kdim_)
    elif inputs in ("prefix", "suffix"):
        # causal cross-length case: keys/values are a sequence x of length Lk, the queries are its
        # first ("prefix", top-left alignment) or last ("suffix", bottom-right / KV-cache) Lq tokens
        x = rand_f32(B, Lk, E)
        k32 = v32 = x
        q32 = (x[:, :Lq] if inputs == "prefix" else x[:, Lk - Lq:]).clone()
    else:
        q32 = rand_f32(B, Lq, E)
        k32 = rand_f32(B, Lk, kdim_)
        v32 = rand_f32(B, Lk, vdim_)

    tensors = {}
    # weights under PyTorch's state_dict names, float32 values
    state = {k_: t.detach().clone() for k_, t in mha.state_dict().items()}
    for k_, t in state.items():
        tensors[k_] = t.numpy().astype(np.float32)

    attn_mask_torch = None  # what is passed to PyTorch
    attn_add32 = None  # the additive F32 equivalent that is stored
    if attn_mask_kind == "causal_float":
        attn_add32 = bool_to_additive(causal_mask_bool(Lq, Lk, causal))
        attn_mask_torch = attn_add32.double()
    elif attn_mask_kind == "causal_bool":
        mb = causal_mask_bool(Lq, Lk, causal)
        attn_add32 = bool_to_additive(mb)
        attn_mask_torch = mb
    elif attn_mask_kind == "random_float":
        attn_add32 = rand_f32(Lq, Lk, scale=2.0)
        attn_mask_torch = attn_add32.double()
    elif attn_mask_kind is not None:
        raise ValueError(attn_mask_kind)

    kpm = None
    if key_lengths is not None:
        kl = torch.tensor(key_lengths, dtype=torch.int32)
        kpm = torch.arange(Lk).unsqueeze(0) >= kl.unsqueeze(1).long()  # True = masked (padding)

    mha64 = mha.double()
    q64, k64, v64 = q32.double(), k32.double(), v32.double()
    if inputs == "self":
        k64 = v64 = q64  # same tensor object, as in real self-attention
    elif inputs in ("kv_shared", "prefix", "suffix"):
        v64 = k64
    # gradients enabled on purpose: keeps PyTorch on its standard (non-fused) path
    out, weights = mha64(q64, k64, v64, key_padding_mask=kpm, need_weights=True,
                         attn_mask=attn_mask_torch, average_attn_weights=False)
    out = out.detach().numpy()
    weights = weights.detach().numpy()
    assert out.dtype == np.float64 and weights.shape == (B, heads, Lq, Lk)

    # self-check against the independent formula
    p64 = {k_: t.numpy().astype(np.float64) for k_, t in state.items()}
    ref_o, ref_p = numpy_reference(p64, q32.numpy().astype(np.float64), k32.numpy().astype(np.float64),
                                   v32.numpy().astype(np.float64), heads,
                                   None if attn_add32 is None else attn_add32.numpy().astype(np.float64),
                                   None if kpm is None else kpm.numpy())
    nan_rows = np.isnan(out).any(axis=(1, 2))
    assert list(np.nonzero(nan_rows)[0]) == list(expect_nan_batches), (name, nan_rows)
    assert np.array_equal(np.isnan(out), np.isnan(ref_o)), name
    ok = ~np.isnan(out)
    assert np.max(np.abs(out[ok] - ref_o[ok])) < 1e-12, name
    okp = ~np.isnan(weights)
    assert np.max(np.abs(weights[okp] - ref_p[okp])) < 1e-12, name

    tensors["golden.query"] = q32.numpy()
    tensors["golden.key"] = k32.numpy()
    tensors["golden.value"] = v32.numpy()
    if attn_add32 is not None:
        tensors["golden.attn_mask"] = attn_add32.numpy()
    if kpm is not None:
        tensors["golden.key_padding_mask"] = kpm.numpy().astype(np.uint8)
        tensors["golden.key_lengths"] = np.asarray(key_lengths, dtype=np.int32)
    tensors["golden.output"] = out.astype(np.float32)
    tensors["golden.attention_weights"] = weights.astype(np.float32)

    config = {
        "framework": "pytorch",
        "heads": heads,
        "d_model": E,
        "kdim": kdim_,
        "vdim": vdim_,
        "key_dim_per_head": E // heads,
        "value_dim_per_head": E // heads,
        "output_dim": E,
        "bias": bool(bias),
        "causal": causal,
        "atol": ATOL,
        "rtol": RTOL,
        "description": description,
    }
    metadata = {
        "config": json.dumps(config, sort_keys=False),
        "generator": "tools/make_mha_goldens_pytorch.py",
        "torch_version": torch.__version__,
        "case": name,
        "seed": str(seed),
    }
    path = os.path.join(out_dir, f"pytorch_{name}.safetensors")
    safetensors_io.write(path, tensors, metadata)
    back, meta = safetensors_io.read(path)
    for k_, v_ in tensors.items():
        assert np.array_equal(back[k_], v_, equal_nan=True), (path, k_)
    assert meta == metadata
    print(f"{path}: {os.path.getsize(path)} bytes, {len(tensors)} tensors")


COMMON = ("Reference: torch {tv} nn.MultiheadAttention(batch_first=True) in eval mode, evaluated in "
          "float64 on float32-representable weights and inputs (standard F.multi_head_attention_forward "
          "path, need_weights=True, average_attn_weights=False); output and per-head attention weights "
          "rounded to F32.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "mha"))
    args = ap.parse_args()
    out_dir = os.path.normpath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    common = COMMON.format(tv=torch.__version__)

    make_case(out_dir, "no_mask", seed=101, B=2, Lq=7, Lk=7, E=30, heads=3, inputs="self",
              description="Self-attention (query is key is value), no mask, B=2 L=7 E=30 heads=3. " + common)
    make_case(out_dir, "causal_top_left_square", seed=102, B=2, Lq=7, Lk=7, E=36, heads=6, inputs="self",
              causal="top_left", attn_mask_kind="causal_float",
              description="Causal self-attention, square L=7, E=36 heads=6: attn_mask passed as the float "
                          "additive mask 0 / -inf (-inf where key j > query i), as stored in golden.attn_mask. "
                          + common)
    make_case(out_dir, "causal_top_left_lq7_lk11", seed=103, B=2, Lq=7, Lk=11, E=30, heads=6,
              inputs="prefix", causal="top_left", attn_mask_kind="causal_bool",
              description="Causal with Lq=7 < Lk=11, top-left alignment (key j allowed iff j <= i): PyTorch "
                          "got a boolean attn_mask (True = masked); golden.attn_mask stores its additive F32 "
                          "equivalent (0 / -inf). Key=value=x (B,11,E), query = x[:, :7], so the output equals "
                          "the first 7 rows of causal self-attention over x. " + common)
    make_case(out_dir, "causal_top_left_lq11_lk7", seed=107, B=2, Lq=11, Lk=7, E=30, heads=3,
              inputs="cross", causal="top_left", attn_mask_kind="causal_bool",
              description="Causal with Lq=11 > Lk=7, top-left alignment (key j allowed iff j <= i; query rows "
                          "i >= 7 see every key): PyTorch got a boolean attn_mask (True = masked); "
                          "golden.attn_mask stores its additive F32 equivalent (0 / -inf). Distinct query, key "
                          "and value tensors. " + common)
    make_case(out_dir, "causal_bottom_right_lq7_lk11", seed=104, B=2, Lq=7, Lk=11, E=30, heads=6,
              inputs="suffix", causal="bottom_right", attn_mask_kind="causal_bool",
              description="Causal with Lq=7 < Lk=11, bottom-right (KV-cache) alignment (key j allowed iff "
                          "j <= i + Lk - Lq): PyTorch got a boolean attn_mask (True = masked); golden.attn_mask "
                          "stores its additive F32 equivalent (0 / -inf). Key=value=x (B,11,E), query = "
                          "x[:, 4:], so the output equals the last 7 rows of causal self-attention over x. "
                          + common)
    make_case(out_dir, "key_padding", seed=105, B=3, Lq=7, Lk=11, E=36, heads=3, inputs="kv_shared",
              key_lengths=[11, 6, 3],
              description="Key padding by lengths [11, 6, 3] (golden.key_lengths) passed to PyTorch as a bool "
                          "key_padding_mask (True = padded key, stored as golden.key_padding_mask U8 1 = masked); "
                          "Lq=7, Lk=11, key is value, E=36 heads=3. " + common)
    make_case(out_dir, "additive_bias", seed=106, B=2, Lq=7, Lk=11, E=30, heads=3, inputs="cross",
              attn_mask_kind="random_float",
              description="Additive float attention bias: attn_mask = random N(0, 2^2) float32 values (Lq,Lk) "
                          "added to the scaled scores before softmax, shared by batch and heads; cross-attention "
                          "Lq=7 Lk=11 E=30 heads=3. " + common)
    make_case(out_dir, "cross_attention", seed=108, B=3, Lq=7, Lk=11, E=36, heads=6, inputs="cross",
              description="Cross-attention with distinct query (B,7,36), key (B,11,36) and value (B,11,36) "
                          "tensors, no mask, heads=6. " + common)
    make_case(out_dir, "kdim_vdim", seed=109, B=2, Lq=7, Lk=11, E=30, heads=3, kdim=17, vdim=23,
              inputs="cross",
              description="kdim=17 and vdim=23 differ from d_model=30 (heads=3), so PyTorch keeps separate "
                          "q_proj_weight (30,30), k_proj_weight (30,17), v_proj_weight (30,23) plus one "
                          "in_proj_bias (90); Lq=7 Lk=11. " + common)
    make_case(out_dir, "no_bias", seed=110, B=2, Lq=7, Lk=11, E=30, heads=6, bias=False, inputs="cross",
              description="bias=False: no in_proj_bias and no out_proj.bias; cross-attention Lq=7 Lk=11 "
                          "E=30 heads=6. " + common)
    make_case(out_dir, "fully_masked_row", seed=111, B=3, Lq=7, Lk=11, E=30, heads=3, inputs="kv_shared",
              key_lengths=[11, 0, 5], expect_nan_batches=(1,),
              description="Key lengths [11, 0, 5]: batch entry 1 has no valid key, so every one of its score "
                          "rows is all -inf and PyTorch's softmax gives NaN; golden.output[1] and "
                          "golden.attention_weights[1] are PyTorch's output stored as-is, i.e. all NaN, while "
                          "entries 0 and 2 are ordinary finite references (atol/rtol apply to those). " + common)


if __name__ == "__main__":
    main()
