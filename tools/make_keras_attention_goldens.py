#!/usr/bin/python3
"""Writes tests/data/layers/keras_attention_*.safetensors: reference data for keras.layers.Attention
(dot and concat score modes, use_scale, value/query masks, use_causal_mask), computed with numpy in
float64 by the formulas of Keras's source (keras/src/layers/attention/attention.py, Keras 3; the
same in tf.keras 2):

    dot:    scores = query @ key^T, times `scale` when use_scale
    concat: scores = concat_score_weight * sum_d tanh(scale * (query_i + key_j))   (scale only
            when use_scale)
    masked scores -= 1e9 (value_mask AND the lower-triangular causal mask), softmax over keys,
    result = weights @ value, then result *= query_mask.

TensorFlow.js 4.22 has no Attention layer, so there is no framework run to compare with here; the
"dot" cases are cross-checked against torch (softmax(q k^T) v in float64) where the two overlap.
The -1e9 subtraction is evaluated in float32, as Keras does on float32 tensors: a fully masked row
then becomes a near-uniform average of the values (the `fully_masked_row` case).

    /usr/bin/python3 tools/make_keras_attention_goldens.py [--out tests/data/layers]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4


def keras_attention(q, v, k, score_mode, scale, concat_weight, value_mask, query_mask, causal):
    """float64 evaluation of Keras's Attention.call (inference)."""
    q, v, k = (np.asarray(t, np.float64) for t in (q, v, k))
    if score_mode == "dot":
        scores = q @ k.transpose(0, 2, 1)
        if scale is not None:
            scores = scores * scale
    else:
        summed = q[:, :, None, :] + k[:, None, :, :]
        if scale is not None:
            summed = scale * summed
        scores = concat_weight * np.tanh(summed).sum(-1)
    B, Tq, Tv = scores.shape
    keep = np.ones((B, Tq, Tv), dtype=bool)
    if value_mask is not None:
        keep &= value_mask[:, None, :].astype(bool)
    if causal:
        keep &= np.tril(np.ones((Tq, Tv), dtype=bool))[None]
    # scores -= 1e9 * (1 - mask), in float32 as Keras computes it on float32 scores
    shifted = (scores.astype(np.float32) - np.float32(1e9)).astype(np.float64)
    scores = np.where(keep, scores, shifted)
    scores = scores - scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(-1, keepdims=True)
    result = weights @ v
    if query_mask is not None:
        result = result * query_mask[:, :, None]
    return result


def case(out, name, seed, B, Tq, Tv, dim, dv, score_mode="dot", use_scale=False, distinct_key=False,
         value_lengths=None, query_keep=None, causal=False, description=""):
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    q, v = f32(B, Tq, dim), f32(B, Tv, dv)
    k = f32(B, Tv, dim) if distinct_key else None
    if k is None and dim != dv:
        raise ValueError("key = value needs dim == dv")
    scale = np.float32(0.6 + rng.random()) if use_scale else None
    concat_weight = np.float32(0.5 + rng.random()) if score_mode == "concat" else None
    value_mask = None
    if value_lengths is not None:
        value_mask = (np.arange(Tv)[None, :] < np.asarray(value_lengths)[:, None]).astype(np.uint8)
    query_mask = None if query_keep is None else np.asarray(query_keep, np.uint8)
    key = k if k is not None else v
    y = keras_attention(q, v, key, score_mode, scale, concat_weight, value_mask, query_mask, causal)
    if score_mode == "dot" and value_mask is None and query_mask is None and not causal:
        # Where the two overlap: plain softmax(q k^T * scale) v in torch, float64.
        s = torch.from_numpy(q).double() @ torch.from_numpy(key).double().transpose(1, 2)
        if scale is not None:
            s = s * float(scale)
        ref = torch.softmax(s, -1) @ torch.from_numpy(v).double()
        assert np.allclose(ref.numpy(), y, atol=1e-12), name
    tensors = {"golden.query": q, "golden.value": v, "golden.output": y.astype(np.float32)}
    if k is not None:
        tensors["golden.key"] = k
    if scale is not None:
        tensors["scale"] = np.array(scale, dtype=np.float32)
    if concat_weight is not None:
        tensors["concat_score_weight"] = np.array(concat_weight, dtype=np.float32)
    if value_mask is not None:
        tensors["golden.value_mask"] = value_mask
    if query_mask is not None:
        tensors["golden.query_mask"] = query_mask
    config = {"framework": "keras", "layer": "Attention", "score_mode": score_mode, "use_scale": use_scale,
              "causal": causal, "atol": ATOL, "rtol": RTOL, "description": description}
    safetensors_io.write(os.path.join(out, f"keras_attention_{name}.safetensors"), tensors,
                         {"config": json.dumps(config, sort_keys=True), "numpy_version": np.__version__,
                          "generator": "tools/make_keras_attention_goldens.py"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "layers"))
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    case(out, "dot", 501, 2, 5, 7, 6, 6, description="Attention() on [query, value]: key = value, no scaling at all")
    case(out, "dot_scale_distinct_key", 502, 2, 5, 7, 6, 9, use_scale=True, distinct_key=True,
         description="Attention(use_scale=True) on [query, value, key], value width 9 != query width 6")
    case(out, "dot_masks", 503, 3, 5, 7, 6, 9, distinct_key=True, value_lengths=[7, 4, 1],
         query_keep=[[1, 1, 1, 1, 1], [1, 1, 0, 1, 0], [0, 1, 1, 1, 1]],
         description="mask=[query_mask, value_mask]: value_mask keeps the first [7, 4, 1] values, query_mask "
                     "zeroes some output rows")
    case(out, "dot_causal", 504, 2, 7, 7, 6, 6, causal=True, use_scale=True,
         description="Attention(use_scale=True)(..., use_causal_mask=True), square")
    case(out, "concat", 505, 2, 5, 7, 6, 9, score_mode="concat", distinct_key=True,
         description="Attention(score_mode='concat'): concat_score_weight * sum tanh(q + k), no scale")
    case(out, "concat_scale_masks", 506, 3, 5, 7, 6, 9, score_mode="concat", use_scale=True, distinct_key=True,
         value_lengths=[7, 3, 5], query_keep=[[1, 1, 1, 1, 1], [1, 0, 1, 1, 1], [1, 1, 1, 1, 0]],
         description="Attention(score_mode='concat', use_scale=True): the scale inside the tanh; value and "
                     "query masks")
    case(out, "concat_causal", 507, 2, 7, 7, 5, 5, score_mode="concat", use_scale=True, causal=True,
         description="concat scores with use_causal_mask=True")
    case(out, "fully_masked_row", 508, 2, 4, 6, 6, 6, value_lengths=[6, 0],
         description="value_mask all 0 for batch 1: Keras's -1e9 (float32) turns its rows into a near-uniform "
                     "average of all values")


if __name__ == "__main__":
    main()
