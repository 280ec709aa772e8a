#!/usr/bin/python3
"""Writes tests/data/expressions/*.safetensors: attention variants computed in float64 from
their papers' formulas, for the score and mask functions of docs/expressions.md.

Run with Debian's interpreter (numpy, and torch 1.13 for T5's buckets):
    /usr/bin/python3 tools/make_expression_goldens.py [--out tests/data/expressions]

Each file holds one variant: q, k, v as (batch, heads, length, width) float32, the operands the
variant binds (as float32 or int32), and "golden.output", softmax(score(q·kᵀ·scale)) · v over
the visible keys, computed in float64 and rounded to float32. Metadata: the formula, the scale,
and the tolerance (atol, rtol) the test applies.

Sources of the formulas:
- sliding windows, prefix-LM, document masking, soft-capping, sinks: the masks and score
  modifications as FlexAttention's documentation states them (pytorch.org/blog/flexattention),
  Gemma 2 (Team Gemma 2024, §2: logits ← soft_cap · tanh(logits / soft_cap)) and StreamingLLM
  (Xiao et al. 2023: the first tokens kept beside a window);
- ALiBi: Press et al. 2022 (bias m_h · (j − i), slopes from the authors' get_slopes, which BLOOM
  uses), at 8 and 12 heads (12 takes the interleaved extra slopes);
- T5: Raffel et al. 2020, buckets as Hugging Face's T5Attention._relative_position_bucket
  computes them (float32 logarithms), written here from its definition in torch operations;
  unscaled scores;
- Sparse Transformer: Child et al. 2019, §4.2 strided (i − j < l, or (i − j) mod l = 0) and
  fixed (⌊j/l⌋ = ⌊i/l⌋, or j mod l ≥ l − c), both causal;
- rotary embedding: Su et al. 2021 (RoFormer, §3.4.2: pair m turns by p·θ_m, θ_m =
  base^(−2m/d)), paired as RoFormer and GPT-J do (interleaved features 2m, 2m+1) or as GPT-NeoX
  and Hugging Face's rotate_half do (features m, m + d/2); checked here against a float32
  transcription of Hugging Face's apply_rotary_pos_emb in torch;
- grouped-query and multi-query attention: Ainslie et al. 2023 (GQA), Shazeer 2019 (MQA):
  query head h reads key/value head h // (heads / kv_heads), as PyTorch's repeat_interleave
  of keys and values (scaled_dot_product_attention's enable_gqa) gives it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ATOL, RTOL = 2e-5, 2e-4


def alibi_slopes(n):
    """The ALiBi authors' get_slopes(n): a geometric sequence from 2^(-8/n); for n not a power
    of two, the slopes of the next power of two's odd positions fill the rest."""

    def power_of_two(m):
        start = 2 ** (-(2 ** -(math.log2(m) - 3)))
        return [start * start**i for i in range(m)]

    if math.log2(n).is_integer():
        return power_of_two(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_two(closest) + alibi_slopes(2 * closest)[0::2][: n - closest]


def t5_bucket(relative_position, bidirectional, num_buckets, max_distance):
    """T5's bucket of relative_position = key − query, in torch as Hugging Face evaluates it."""
    rp = torch.as_tensor(relative_position, dtype=torch.long)
    buckets = torch.zeros_like(rp)
    if bidirectional:
        num_buckets //= 2
        buckets += (rp > 0).to(torch.long) * num_buckets
        rp = torch.abs(rp)
    else:
        rp = -torch.min(rp, torch.zeros_like(rp))
    max_exact = num_buckets // 2
    small = rp < max_exact
    large = max_exact + (
        torch.log(rp.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return (buckets + torch.where(small, rp, large)).numpy()


def attention(q, k, v, scale, score, visible):
    """softmax over the visible keys of score(q·kᵀ·scale, b, h, i, j) times v, in float64.
    score and visible take index arrays broadcast to (B, H, Lq, Lk)."""
    q64, k64, v64 = (np.asarray(x, np.float64) for x in (q, k, v))
    B, H, Lq, _ = q.shape
    Lk = k.shape[2]
    b, h, i, j = np.meshgrid(np.arange(B), np.arange(H), np.arange(Lq), np.arange(Lk), indexing="ij")
    s = np.einsum("bhid,bhjd->bhij", q64, k64) * scale
    s = score(s, b, h, i, j)
    seen = visible(b, h, i, j)
    s = np.where(seen, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    any_seen = np.isfinite(m)
    p = np.where(seen, np.exp(s - np.where(any_seen, m, 0)), 0.0)
    total = p.sum(axis=-1, keepdims=True)
    out = np.einsum("bhij,bhjd->bhid", p / np.where(total > 0, total, 1), v64)
    return out  # rows that see nothing give 0 (typeformer's default policy)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/expressions")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(36)

    def inputs(B, H, L, d, scale_qk=1.0):
        q = rng.standard_normal((B, H, L, d)).astype(np.float32) * np.float32(scale_qk)
        k = rng.standard_normal((B, H, L, d)).astype(np.float32) * np.float32(scale_qk)
        v = rng.standard_normal((B, H, L, d)).astype(np.float32)
        return q, k, v

    plain = lambda s, b, h, i, j: s  # noqa: E731
    everything = lambda b, h, i, j: np.ones_like(i, bool)  # noqa: E731
    causal = lambda b, h, i, j: j <= i  # noqa: E731

    cases = []

    def case(name, formula, q, k, v, scale, score, visible, operands=None):
        out = attention(q, k, v, scale, score, visible)
        tensors = {"q": q, "k": k, "v": v, "golden.output": out.astype(np.float32)}
        tensors.update(operands or {})
        meta = {"formula": formula, "scale": repr(float(scale)), "atol": repr(ATOL), "rtol": repr(RTOL)}
        safetensors_io.write(os.path.join(args.out, name + ".safetensors"), tensors, meta)
        cases.append(name)

    B, H, L, d = 2, 2, 160, 8  # two query blocks of 128 rows, three key tiles of 64
    s = 1 / math.sqrt(d)

    q, k, v = inputs(B, H, L, d)
    case("causal", "kv <= q", q, k, v, s, plain, causal)

    q, k, v = inputs(B, H, L, d)
    W = 40
    case("sliding_window", "kv <= q and q - kv < window (40)", q, k, v, s, plain,
         lambda b, h, i, j: (j <= i) & (i - j < W), {"window": np.array(W, np.int32)})

    q, k, v = inputs(B, H, L, d)
    W = 20
    case("sliding_window_symmetric", "|q - kv| <= window (20)", q, k, v, s, plain,
         lambda b, h, i, j: np.abs(i - j) <= W, {"window": np.array(W, np.int32)})

    q, k, v = inputs(B, H, L, d)
    prefix = np.array([37, 90], np.int32)
    case("prefix_lm", "kv <= q or kv < prefix[b]", q, k, v, s, plain,
         lambda b, h, i, j: (j <= i) | (j < prefix[b]), {"prefix": prefix})

    # Packed documents: 5 and 7 documents of random lengths in the two rows.
    doc = np.zeros((B, L), np.int32)
    for row, n in enumerate((5, 7)):
        cuts = np.sort(rng.choice(np.arange(1, L), n - 1, replace=False))
        doc[row] = np.searchsorted(cuts, np.arange(L), side="right")
    q, k, v = inputs(B, H, L, d)
    case("document", "doc[b, q] == doc[b, kv]", q, k, v, s, plain,
         lambda b, h, i, j: doc[b, i] == doc[b, j], {"doc": doc})
    q, k, v = inputs(B, H, L, d)
    case("document_causal", "doc[b, q] == doc[b, kv] and kv <= q", q, k, v, s, plain,
         lambda b, h, i, j: (doc[b, i] == doc[b, j]) & (j <= i), {"doc": doc})

    for heads in (8, 12):
        slopes = np.array(alibi_slopes(heads), np.float32)
        q, k, v = inputs(1, heads, 80, d)
        case(f"alibi_{heads}", "score + slopes[h] * (kv - q), kv <= q", q, k, v, s,
             lambda sc, b, h, i, j: sc + slopes.astype(np.float64)[h] * (j - i), causal,
             {"slopes": slopes})

    num_buckets, max_distance = 32, 128
    for bidirectional in (True, False):
        table = rng.standard_normal((num_buckets, H)).astype(np.float32)
        q, k, v = inputs(1, H, 300, d)  # distances past max_distance: the last bucket
        rel = np.arange(300)[None, :] - np.arange(300)[:, None]
        bucket = t5_bucket(rel, bidirectional, num_buckets, max_distance)
        name = "t5_bidirectional" if bidirectional else "t5_causal"
        case(name, "score + table[bucket(kv - q), h], unscaled", q, k, v, 1.0,
             lambda sc, b, h, i, j: sc + table.astype(np.float64)[bucket[i, j], h],
             everything if bidirectional else causal, {"table": table})
        # The buckets themselves, over every distance in ±3000, for the bucket function's test.
        distances = np.arange(-3000, 3001, dtype=np.int64)
        safetensors_io.write(
            os.path.join(args.out, name + "_buckets.safetensors"),
            {"distance": distances.astype(np.int32),
             "bucket": t5_bucket(distances, bidirectional, num_buckets, max_distance).astype(np.int32)},
            {"num_buckets": str(num_buckets), "max_distance": str(max_distance)})

    cap = 5.0
    q, k, v = inputs(B, H, L, d, scale_qk=2.0)  # scores well past the cap
    case("soft_cap", "cap * tanh(score / cap), cap 5", q, k, v, s,
         lambda sc, b, h, i, j: cap * np.tanh(sc / cap), everything)

    sinks, W = 4, 32
    q, k, v = inputs(B, H, L, d)
    case("sinks_window", "kv < 4 or (kv <= q and q - kv < 32)", q, k, v, s, plain,
         lambda b, h, i, j: (j < sinks) | ((j <= i) & (i - j < W)))

    l = 16
    q, k, v = inputs(B, H, L, d)
    case("sparse_strided", "kv <= q and (q - kv <= 16 or (q - kv) % 16 == 0)", q, k, v, s, plain,
         lambda b, h, i, j: (j <= i) & ((i - j <= l) | ((i - j) % l == 0)))
    c = 4
    q, k, v = inputs(B, H, L, d)
    case("sparse_fixed", "kv <= q and (kv // 16 == q // 16 or kv % 16 >= 16 - 4)", q, k, v, s, plain,
         lambda b, h, i, j: (j <= i) & ((j // l == i // l) | (j % l >= l - c)))

    slopes = np.array(alibi_slopes(8), np.float32)
    W = 48
    q, k, v = inputs(B, 8, L, 4)
    case("document_causal_window_alibi",
         "doc[b, q] == doc[b, kv] and kv <= q and q - kv < 48; score + slopes[h] * (kv - q)",
         q, k, v, s, lambda sc, b, h, i, j: sc + slopes.astype(np.float64)[h] * (j - i),
         lambda b, h, i, j: (doc[b, i] == doc[b, j]) & (j <= i) & (i - j < W),
         {"doc": doc, "slopes": slopes, "window": np.array(W, np.int32)})

    # Grouped-query (8 query heads over 2 key/value heads, causal) and multi-query heads.
    for name, kv_heads, visible in (("grouped_query", 2, causal), ("multi_query", 1, everything)):
        q = rng.standard_normal((B, 8, L, d)).astype(np.float32)
        k = rng.standard_normal((B, kv_heads, L, d)).astype(np.float32)
        v = rng.standard_normal((B, kv_heads, L, d)).astype(np.float32)
        out = attention(q, np.repeat(k, 8 // kv_heads, axis=1), np.repeat(v, 8 // kv_heads, axis=1),
                        s, plain, visible)
        meta = {"formula": f"query head h reads key/value head h // (8 / {kv_heads})",
                "scale": repr(s), "atol": repr(ATOL), "rtol": repr(RTOL)}
        safetensors_io.write(os.path.join(args.out, name + ".safetensors"),
                             {"q": q, "k": k, "v": v, "golden.output": out.astype(np.float32)}, meta)
        cases.append(name)

    # Rotary embedding: queries at positions first_q + i, keys at first_k + j.
    def rotate(x, first, pairs, dims, base=10000.0):
        x64 = np.asarray(x, np.float64).copy()
        half = dims // 2
        theta = base ** (-2.0 * np.arange(half) / dims)
        angle = (first + np.arange(x.shape[2]))[:, None] * theta[None, :]
        c, sn = np.cos(angle), np.sin(angle)
        if pairs == "half_split":
            a, b_ = x64[..., :half].copy(), x64[..., half:dims].copy()
            x64[..., :half], x64[..., half:dims] = a * c - b_ * sn, b_ * c + a * sn
        else:
            a, b_ = x64[..., 0:dims:2].copy(), x64[..., 1:dims:2].copy()
            x64[..., 0:dims:2], x64[..., 1:dims:2] = a * c - b_ * sn, b_ * c + a * sn
        return x64

    def hugging_face_rotate_half(x, first, dims, base=10000.0):
        """apply_rotary_pos_emb with rotate_half, transcribed in torch float32 (whole width)."""
        t = torch.from_numpy(x)
        inv_freq = 1.0 / (base ** (torch.arange(0, dims, 2).float() / dims))
        positions = torch.arange(first, first + x.shape[2]).float()
        freqs = torch.outer(positions, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        x1, x2 = t[..., : dims // 2], t[..., dims // 2 :]
        return (t * emb.cos() + torch.cat((-x2, x1), dim=-1) * emb.sin()).numpy()

    rd = 16
    for name, pairs, dims, first_q, first_k in (
        ("rotary_half_split", "half_split", rd, 37, 0),
        ("rotary_interleaved", "interleaved", rd, 37, 0),
        ("rotary_half_split_partial", "half_split", 8, 1500, 1463),
    ):
        q = rng.standard_normal((B, H, 40, rd)).astype(np.float32)
        k = rng.standard_normal((B, H, 77, rd)).astype(np.float32)
        v = rng.standard_normal((B, H, 77, rd)).astype(np.float32)
        if dims == rd and pairs == "half_split":
            hf = hugging_face_rotate_half(q, first_q, dims)
            assert np.abs(hf - rotate(q, first_q, pairs, dims)).max() < 1e-4, "rotate_half disagrees"
        sr = 1 / math.sqrt(rd)
        # Keys at positions first_k.., queries at first_q..: a query sees keys at its position or before.
        visible_r = lambda b, h, i, j, fq=first_q, fk=first_k: fk + j <= fq + i  # noqa: E731
        out = attention(rotate(q, first_q, pairs, dims), rotate(k, first_k, pairs, dims), v, sr, plain,
                        visible_r)
        meta = {"formula": f"rotary {pairs} over {dims} of {rd} features, queries from position {first_q}, "
                f"keys from {first_k}; a key at or before the query's position",
                "scale": repr(sr), "atol": repr(ATOL), "rtol": repr(RTOL),
                "first_q": str(first_q), "first_k": str(first_k), "dims": str(dims), "pairs": pairs}
        safetensors_io.write(os.path.join(args.out, name + ".safetensors"),
                             {"q": q, "k": k, "v": v, "golden.output": out.astype(np.float32)}, meta)
        cases.append(name)

    # As a LLaMA layer computes attention from its projections: (B, L, heads·width) inputs, 8
    # query heads over 2 key/value heads, half-split rotary, causal.
    Bl, Ll, Hl, KVl, dl = 2, 70, 8, 2, 16
    q = rng.standard_normal((Bl, Ll, Hl * dl)).astype(np.float32)
    k = rng.standard_normal((Bl, Ll, KVl * dl)).astype(np.float32)
    v = rng.standard_normal((Bl, Ll, KVl * dl)).astype(np.float32)
    heads_first = lambda x, n: x.reshape(Bl, Ll, n, dl).transpose(0, 2, 1, 3)  # noqa: E731
    g = Hl // KVl
    out = attention(rotate(heads_first(q, Hl), 0, "half_split", dl),
                    np.repeat(rotate(heads_first(k, KVl), 0, "half_split", dl), g, axis=1),
                    np.repeat(heads_first(v, KVl), g, axis=1), 1 / math.sqrt(dl), plain, causal)
    out = out.transpose(0, 2, 1, 3).reshape(Bl, Ll, Hl * dl)
    meta = {"formula": "LLaMA: (B, L, H*d) inputs, 8 query heads over 2 key/value heads, rotate_half, causal",
            "scale": repr(1 / math.sqrt(dl)), "atol": repr(ATOL), "rtol": repr(RTOL)}
    safetensors_io.write(os.path.join(args.out, "llama_grouped_rotary.safetensors"),
                         {"q": q, "k": k, "v": v, "golden.output": out.astype(np.float32)}, meta)
    cases.append("llama_grouped_rotary")

    # Shaw, Uszkoreit and Vaswani (2018), eq. 3-4: e_ij = q_i·(k_j + a^K_ij)·scale and
    # z_i = sum_j alpha_ij (v_j + a^V_ij), a_ij = w[clip(j - i, -K, K)], written out in float64.
    # Second form: one table per head (rows h*(2K+1) + bucket), causal.
    def shaw(q, k, v, scale, rel_k, rel_v, K, per_head, visible):
        q64, k64, v64 = (np.asarray(x, np.float64) for x in (q, k, v))
        rk, rv = np.asarray(rel_k, np.float64), np.asarray(rel_v, np.float64)
        B_, H_, Lq, _ = q.shape
        Lk = k.shape[2]
        r = np.clip(np.arange(Lk)[None, :] - np.arange(Lq)[:, None], -K, K) + K  # (Lq, Lk)
        out = np.zeros((B_, H_, Lq, v.shape[3]))
        for h in range(H_):
            rows = r + (h * (2 * K + 1) if per_head else 0)
            for b in range(B_):
                e = (q64[b, h] @ k64[b, h].T + np.einsum("id,ijd->ij", q64[b, h], rk[rows])) * scale
                seen = visible(b, h, np.arange(Lq)[:, None], np.arange(Lk)[None, :])
                e = np.where(seen, e, -np.inf)
                p = np.exp(e - e.max(axis=-1, keepdims=True))
                p /= p.sum(axis=-1, keepdims=True)
                out[b, h] = p @ v64[b, h] + np.einsum("ij,ijd->id", p, rv[rows])
        return out

    for name, K, per_head, visible, formula in (
        ("shaw", 10, False, everything,
         "Shaw: score + query_dot(rel_k[clip(kv - q, -10, 10) + 10]), values + rel_v[same]"),
        ("shaw_per_head_causal", 4, True, causal,
         "Shaw, a table per head: rows h * 9 + clip(kv - q, -4, 4) + 4, causal"),
    ):
        q, k, v = inputs(B, H, L, d)
        rows = (2 * K + 1) * (H if per_head else 1)
        rel_k = rng.standard_normal((rows, d)).astype(np.float32)
        rel_v = rng.standard_normal((rows, d)).astype(np.float32)
        out = shaw(q, k, v, s, rel_k, rel_v, K, per_head, visible)
        meta = {"formula": formula, "scale": repr(s), "atol": repr(ATOL), "rtol": repr(RTOL)}
        safetensors_io.write(os.path.join(args.out, name + ".safetensors"),
                             {"q": q, "k": k, "v": v, "rel_k": rel_k, "rel_v": rel_v,
                              "golden.output": out.astype(np.float32)}, meta)
        cases.append(name)

    # keras-multi-head's MultiHeadAttention core (CyberZHG/keras-multi-head, its `call`): relu on
    # each projection, heads split as its _reshape_to_batches does ((B, L, H*d) -> (B*H, L, d)),
    # ScaledDotProductAttention (scores / sqrt(d)); the projections as float32 inputs, before the
    # relu, and the output before the output projection.
    Bk, Lk_, Hk, dk = 2, 70, 3, 8
    pre = [rng.standard_normal((Bk, Lk_, Hk * dk)).astype(np.float32) for _ in range(3)]
    relu = lambda x: np.maximum(np.asarray(x, np.float64), 0.0)  # noqa: E731
    to_batches = lambda x: x.reshape(Bk, Lk_, Hk, dk).transpose(0, 2, 1, 3)  # noqa: E731
    out = attention(to_batches(relu(pre[0])), to_batches(relu(pre[1])), to_batches(relu(pre[2])),
                    1 / math.sqrt(dk), plain, everything)
    out = out.transpose(0, 2, 1, 3).reshape(Bk, Lk_, Hk * dk)
    meta = {"formula": "keras-multi-head: relu on the q, k, v projections, 3 heads of 8",
            "scale": repr(1 / math.sqrt(dk)), "atol": repr(ATOL), "rtol": repr(RTOL)}
    safetensors_io.write(os.path.join(args.out, "keras_multi_head_relu.safetensors"),
                         {"q": pre[0], "k": pre[1], "v": pre[2],
                          "golden.output": out.astype(np.float32)}, meta)
    cases.append("keras_multi_head_relu")

    print(json.dumps(cases))


if __name__ == "__main__":
    main()
