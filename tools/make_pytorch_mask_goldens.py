#!/usr/bin/python3
"""Writes tests/data/mha/pytorch_{mha,sdpa}_masks.safetensors: PyTorch's masks as its APIs take them.

Run with Debian's interpreter (it has torch 1.13 and numpy):
    /usr/bin/python3 tools/make_pytorch_mask_goldens.py [--out tests/data/mha]

PyTorch has two mask conventions, one per API, and each file holds one API's cases:

- pytorch_mha_masks: nn.MultiheadAttention(24, 3, batch_first=True), cross-attention of 7 queries
  over 9 keys, batch 2, with `attn_mask` (L, S) or (N*heads, L, S) in bool, uint8 (PyTorch
  converts it to bool: True = masked) and float (added to the scores), and `key_padding_mask`
  (N, S) in bool (True = padding) and float (added), alone and together.
- pytorch_sdpa_masks: scaled_dot_product_attention's `attn_mask`, every shape that broadcasts to
  (N, H, L, S) = (2, 3, 7, 9), bool (True = attend) and float (added). torch 1.13 has the function
  only as `torch.nn.functional._scaled_dot_product_attention`; for bool and float masks it computes
  what the public function of PyTorch 2 does (checked below against the formula of PyTorch 2's
  documentation). uint8 is not a case: PyTorch 2.1+ refuses it, and 1.13 added it as a number.

Everything runs in float64 on float32-representable values; outputs are stored rounded to F32.
Each case is also recomputed with an independent numpy formula (float64) and must agree to
1e-12; the stored outputs are PyTorch's own. Masks are stored in their own dtype (BOOL, U8, F32).

One combination differs between PyTorch versions: a float attn_mask with a float key_padding_mask.
PyTorch 1.13's MultiheadAttention refuses the pair (masked_fill with a float mask); PyTorch 2 adds
the two (`_canonical_mask`). The case `attn_float_3d_and_padding_float` follows PyTorch 2: its
reference is 1.13's module given the sum as one (N*heads, L, S) float attn_mask. (1.13 also takes
any nonzero float key_padding_mask entry as padding when the attn_mask is bool; PyTorch 2 adds it:
not a case here.)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4
N, H, L, S = 2, 3, 7, 9


def randn(*shape, scale=1.0):
    return torch.randn(*shape, dtype=torch.float32) * scale


def bool_mask(shape, hide_fraction, polarity_true_hides):
    """A random bool mask that leaves every (batch, head, query) row at least one visible key
    once broadcast (so no row is fully masked unless a case asks for it)."""
    hidden = torch.rand(shape) < hide_fraction
    if len(shape) >= 1 and shape[-1] > 1:
        hidden[..., 0] = False
    return hidden if polarity_true_hides else ~hidden


def float_mask(shape, with_minus_inf=True):
    m = randn(*shape, scale=2.0)
    if with_minus_inf and shape[-1] > 2:
        hide = torch.rand(shape) < 0.25
        hide[..., 0] = False
        m = m.masked_fill(hide, float("-inf"))
    return m


def as_numpy(t):
    return t.numpy() if t.dtype != torch.bool else t.numpy().astype(np.bool_)


def additive(mask, hides_when_true):
    """A PyTorch mask as the float64 bias it stands for."""
    m = mask.numpy()
    if mask.dtype in (torch.bool, torch.uint8):
        hidden = m.astype(bool) if hides_when_true else ~m.astype(bool)
        return np.where(hidden, -np.inf, 0.0)
    return m.astype(np.float64)


def softmax_rows(scores):
    with np.errstate(invalid="ignore"):
        mx = scores.max(-1, keepdims=True)
        p = np.exp(scores - mx)
        return p / p.sum(-1, keepdims=True)


def write(path, tensors, metadata):
    safetensors_io.write(path, tensors, metadata)
    back, meta = safetensors_io.read(path)
    for k, v in tensors.items():
        assert np.array_equal(back[k], v, equal_nan=True), (path, k)
    assert meta == metadata
    print(f"{path}: {os.path.getsize(path)} bytes, {len(tensors)} tensors")


def mha_cases(out_dir):
    torch.manual_seed(2026)
    E = 24
    mha = nn.MultiheadAttention(E, H, batch_first=True)
    mha.eval()
    with torch.no_grad():
        for name, p in mha.named_parameters():
            p.copy_(randn(*p.shape, scale=0.5) if name.endswith("bias")
                    else randn(*p.shape, scale=1.0 / math.sqrt(p.shape[1])))
    q, k, v = randn(N, L, E), randn(N, S, E), randn(N, S, E)
    tensors = {k_: t.detach().numpy().astype(np.float32) for k_, t in mha.state_dict().items()}
    tensors.update({"golden.query": q.numpy(), "golden.key": k.numpy(), "golden.value": v.numpy()})
    mha64 = mha.double()
    p64 = {k_: t.detach().numpy().astype(np.float64) for k_, t in mha64.state_dict().items()}

    def numpy_mha(bias):
        wq, wk, wv = np.split(p64["in_proj_weight"], 3)
        bq, bk, bv = np.split(p64["in_proj_bias"], 3)
        d = E // H
        Q = (q.double().numpy() @ wq.T + bq).reshape(N, L, H, d).transpose(0, 2, 1, 3)
        K = (k.double().numpy() @ wk.T + bk).reshape(N, S, H, d).transpose(0, 2, 1, 3)
        V = (v.double().numpy() @ wv.T + bv).reshape(N, S, H, d).transpose(0, 2, 1, 3)
        P = softmax_rows(Q @ K.transpose(0, 1, 3, 2) / math.sqrt(d) + bias)
        O = (P @ V).transpose(0, 2, 1, 3).reshape(N, L, E)
        return O @ p64["out_proj.weight"].T + p64["out_proj.bias"]

    cases = []

    def case(name, attn_mask=None, key_padding_mask=None, *, pytorch_given=None, nan_rows=False,
             note=""):
        def to64(m):
            return None if m is None else (m.double() if m.is_floating_point() else m)
        given = pytorch_given or {"attn_mask": attn_mask, "key_padding_mask": key_padding_mask}
        with torch.no_grad():
            out, _ = mha64(q.double(), k.double(), v.double(), attn_mask=to64(given["attn_mask"]),
                           key_padding_mask=to64(given["key_padding_mask"]), need_weights=False)
        out = out.numpy()
        bias = np.zeros((N, H, L, S))
        if attn_mask is not None:
            a = additive(attn_mask, True)
            bias = bias + (a.reshape(N, H, L, S) if a.ndim == 3 else a)
        if key_padding_mask is not None:
            bias = bias + additive(key_padding_mask, True)[:, None, None, :]
        ref = numpy_mha(bias)
        assert np.array_equal(np.isnan(out), np.isnan(ref)), name
        assert np.isnan(out).any() == nan_rows, name
        ok = ~np.isnan(out)
        assert np.max(np.abs(out[ok] - ref[ok])) < 1e-12, (name, np.max(np.abs(out[ok] - ref[ok])))
        entry = {"name": name, "note": note, "fully_masked_rows": "nan" if nan_rows else "none"}
        for what, m in (("attn_mask", attn_mask), ("key_padding_mask", key_padding_mask)):
            if m is not None:
                tensors[f"case.{name}.{what}"] = as_numpy(m)
                entry[what] = {"dtype": str(m.dtype).replace("torch.", ""), "shape": list(m.shape)}
        tensors[f"case.{name}.output"] = out.astype(np.float32)
        cases.append(entry)

    attn2 = bool_mask((L, S), 0.4, True)
    case("attn_bool_2d", attn2)
    case("attn_uint8_2d", attn2.to(torch.uint8),
         note="PyTorch converts a uint8 attn_mask to bool (with a deprecation warning)")
    case("attn_bool_3d", bool_mask((N * H, L, S), 0.4, True))
    case("attn_float_2d", float_mask((L, S)))
    case("attn_float_3d", float_mask((N * H, L, S)))
    padding = torch.zeros(N, S, dtype=torch.bool)
    padding[0, 6:] = True
    padding[1, 3:] = True
    case("padding_bool", key_padding_mask=padding)
    case("padding_float", key_padding_mask=float_mask((N, S)))
    case("attn_bool_and_padding_bool", bool_mask((L, S), 0.3, True), padding)
    case("attn_float_and_padding_bool", float_mask((L, S)), padding)
    a3, kp = float_mask((N * H, L, S), with_minus_inf=False), float_mask((N, S))
    summed = a3.double() + kp.double().repeat_interleave(H, dim=0)[:, None, :]
    case("attn_float_3d_and_padding_float", a3, kp,
         pytorch_given={"attn_mask": summed, "key_padding_mask": None},
         note="PyTorch 2 adds the two masks; 1.13 refuses the pair: its reference is 1.13 given "
              "their sum as one attn_mask")
    full = bool_mask((L, S), 0.3, True)
    full[2, :] = True
    case("attn_bool_fully_masked_row", full, nan_rows=True,
         note="query row 2 sees no key: PyTorch gives NaN")

    config = {"framework": "pytorch", "api": "nn.MultiheadAttention", "heads": H, "d_model": E,
              "batch": N, "query_len": L, "key_len": S, "atol": ATOL, "rtol": RTOL,
              "cases": cases,
              "description": f"torch {torch.__version__} nn.MultiheadAttention(batch_first=True) in "
                             "eval mode, float64, need_weights=False, cross-attention; outputs "
                             "rounded to F32"}
    write(os.path.join(out_dir, "pytorch_mha_masks.safetensors"), tensors,
          {"config": json.dumps(config), "generator": "tools/make_pytorch_mask_goldens.py",
           "torch_version": torch.__version__})


def sdpa_cases(out_dir):
    torch.manual_seed(2027)
    d = 8
    q, k, v = randn(N, H, L, d), randn(N, H, S, d), randn(N, H, S, d)
    tensors = {"golden.query": q.numpy(), "golden.key": k.numpy(), "golden.value": v.numpy()}
    cases = []

    def case(name, mask, nan_rows=False, note=""):
        with torch.no_grad():
            out, _ = F._scaled_dot_product_attention(q.double(), k.double(), v.double(),
                                                     mask.double() if mask.is_floating_point()
                                                     else mask, 0.0, False, False)
        out = out.numpy()
        # PyTorch 2's documented formula: bool True = attend, float added.
        bias = np.broadcast_to(additive(mask, False), (N, H, L, S))
        qn, kn, vn = (t.double().numpy() for t in (q, k, v))
        ref = softmax_rows(qn @ kn.transpose(0, 1, 3, 2) / math.sqrt(d) + bias) @ vn
        assert np.array_equal(np.isnan(out), np.isnan(ref)), name
        assert np.isnan(out).any() == nan_rows, name
        ok = ~np.isnan(out)
        assert np.max(np.abs(out[ok] - ref[ok])) < 1e-12, name
        tensors[f"case.{name}.attn_mask"] = as_numpy(mask)
        tensors[f"case.{name}.output"] = out.astype(np.float32)
        cases.append({"name": name, "note": note,
                      "fully_masked_rows": "nan" if nan_rows else "none",
                      "attn_mask": {"dtype": str(mask.dtype).replace("torch.", ""),
                                    "shape": list(mask.shape)}})

    case("bool_L_S", bool_mask((L, S), 0.4, False))
    case("bool_N_1_L_S", bool_mask((N, 1, L, S), 0.4, False))
    case("bool_1_H_L_S", bool_mask((1, H, L, S), 0.4, False))
    case("bool_N_H_L_S", bool_mask((N, H, L, S), 0.4, False))
    case("bool_1_L_S", bool_mask((1, L, S), 0.4, False))
    case("bool_H_1_S", bool_mask((H, 1, S), 0.4, False), note="rank 3: (heads, 1, keys)")
    keys = torch.ones(S, dtype=torch.bool)
    keys[5:] = False
    case("bool_S", keys, note="rank 1: one key padding row for every batch entry, head and query")
    padding = torch.ones(N, 1, 1, S, dtype=torch.bool)
    padding[0, ..., 6:] = False
    padding[1, ..., 3:] = False
    case("bool_N_1_1_S", padding, note="key padding in attend polarity")
    rows = torch.ones(N, 1, L, 1, dtype=torch.bool)
    rows[1, 0, 4, 0] = False
    case("bool_N_1_L_1", rows, nan_rows=True,
         note="the key axis broadcasts: query row 4 of batch entry 1 sees no key (NaN)")
    case("float_N_H_L_S", float_mask((N, H, L, S)))
    case("float_1_L_S", float_mask((1, L, S)))
    case("float_L_S", float_mask((L, S), with_minus_inf=False))

    config = {"framework": "pytorch", "api": "scaled_dot_product_attention", "heads": H,
              "head_width": d, "batch": N, "query_len": L, "key_len": S, "atol": ATOL,
              "rtol": RTOL, "cases": cases,
              "description": f"torch {torch.__version__} F._scaled_dot_product_attention "
                             "(need_attn_weights=False, is_causal=False), float64; outputs rounded "
                             "to F32"}
    write(os.path.join(out_dir, "pytorch_sdpa_masks.safetensors"), tensors,
          {"config": json.dumps(config), "generator": "tools/make_pytorch_mask_goldens.py",
           "torch_version": torch.__version__})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "mha"))
    args = ap.parse_args()
    out_dir = os.path.normpath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    mha_cases(out_dir)
    sdpa_cases(out_dir)


if __name__ == "__main__":
    main()
