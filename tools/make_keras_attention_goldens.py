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


class LayerExamples:
    """Several layers' weights and samples gathered into one file (examples/keras_attention_layers.cpp):
    layer L's weights under "L/", its sample inputs and float64 output under "selftest.L."."""

    def __init__(self):
        self.tensors, self.layers = {}, {}

    def add(self, layer, tensors, config):
        for n, t in tensors.items():
            self.tensors[f"selftest.{layer}.{n[len('golden.'):]}" if n.startswith("golden.") else f"{layer}/{n}"] = t
        self.layers[layer] = config["description"]

    def write(self, path):
        config = {"atol": ATOL, "rtol": RTOL, "layers": self.layers,
                  "description": "Keras attention layers, each with a sample and its float64 reference output"}
        safetensors_io.write(path, self.tensors,
                             {"config": json.dumps(config, sort_keys=True), "numpy_version": np.__version__,
                              "generator": "tools/make_keras_attention_goldens.py --layer-examples",
                              **safetensors_io.self_test_metadata(self.tensors, config)})


def emit(out, file_name, layer, tensors, config):
    """Writes one case's file into the directory `out`, or adds the case to a LayerExamples."""
    if isinstance(out, LayerExamples):
        out.add(layer, tensors, config)
        return
    safetensors_io.write(os.path.join(out, file_name), tensors,
                         {"config": json.dumps(config, sort_keys=True), "numpy_version": np.__version__,
                          "generator": "tools/make_keras_attention_goldens.py"})


def keras_attention(q, v, k, score_mode, scale, concat_weight, value_mask, query_mask, causal):
    """float64 evaluation of Keras's Attention.call and AdditiveAttention.call (inference)."""
    q, v, k = (np.asarray(t, np.float64) for t in (q, v, k))
    if score_mode == "additive":  # AdditiveAttention: sum(scale * tanh(q + k)), scale (dim,) or 1
        scores = ((1.0 if scale is None else scale) * np.tanh(q[:, :, None, :] + k[:, None, :, :])).sum(-1)
    elif score_mode == "bahdanau":  # scale = (W1, b1, W2, b2, V, bV)
        w1, b1, w2, b2, vk, vb = (np.asarray(t, np.float64) for t in scale)
        qp, kp = q @ w1 + b1, k @ w2 + b2
        scores = (np.tanh(qp[:, :, None, :] + kp[:, None, :, :]) @ vk)[..., 0] + vb[0]
    elif score_mode == "dot":
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
    emit(out, f"keras_attention_{name}.safetensors", name, tensors, config)


def additive_case(out, name, seed, B, Tq, Tv, dim, use_scale=True, distinct_key=False, value_lengths=None,
                  query_keep=None, causal=False, description=""):
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    q, v = f32(B, Tq, dim), f32(B, Tv, dim)
    k = f32(B, Tv, dim) if distinct_key else None
    scale = (rng.standard_normal(dim) * 0.5 + 1.0).astype(np.float32) if use_scale else None
    value_mask = None if value_lengths is None else \
        (np.arange(Tv)[None, :] < np.asarray(value_lengths)[:, None]).astype(np.uint8)
    query_mask = None if query_keep is None else np.asarray(query_keep, np.uint8)
    y = keras_attention(q, v, k if k is not None else v, "additive", scale, None, value_mask, query_mask, causal)
    tensors = {"golden.query": q, "golden.value": v, "golden.output": y.astype(np.float32)}
    if k is not None:
        tensors["golden.key"] = k
    if scale is not None:
        tensors["scale"] = scale
    if value_mask is not None:
        tensors["golden.value_mask"] = value_mask
    if query_mask is not None:
        tensors["golden.query_mask"] = query_mask
    config = {"framework": "keras", "layer": "AdditiveAttention", "use_scale": use_scale, "causal": causal,
              "atol": ATOL, "rtol": RTOL, "description": description}
    emit(out, f"keras_additive_attention_{name}.safetensors", name, tensors, config)


def bahdanau_case(out, name, seed, B, Tq, Tv, dq, dv, units, value_lengths=None, single_query=False,
                  description=""):
    """TensorFlow's NMT tutorial BahdanauAttention(units): V(tanh(W1(q) + W2(values))), values as keys."""
    rng = np.random.default_rng(seed)
    f32 = lambda *shape, s=1.0: (rng.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    q, v = f32(B, Tq, dq), f32(B, Tv, dv)
    weights = {"W1/kernel": f32(dq, units, s=dq ** -0.5), "W1/bias": f32(units, s=0.3),
               "W2/kernel": f32(dv, units, s=dv ** -0.5), "W2/bias": f32(units, s=0.3),
               "V/kernel": f32(units, 1, s=units ** -0.5), "V/bias": f32(1, s=0.3)}
    value_mask = None if value_lengths is None else \
        (np.arange(Tv)[None, :] < np.asarray(value_lengths)[:, None]).astype(np.uint8)
    params = [weights[n] for n in ("W1/kernel", "W1/bias", "W2/kernel", "W2/bias", "V/kernel", "V/bias")]
    y = keras_attention(q, v, v, "bahdanau", params, None, value_mask, None, False)
    # Cross-check against torch: the same layer from nn.Linear modules, float64.
    w1, w2, vl = (torch.nn.Linear(a, b).double() for a, b in ((dq, units), (dv, units), (units, 1)))
    with torch.no_grad():
        for lin, n in ((w1, "W1"), (w2, "W2"), (vl, "V")):
            lin.weight.copy_(torch.from_numpy(weights[n + "/kernel"]).double().T)
            lin.bias.copy_(torch.from_numpy(weights[n + "/bias"]).double())
        tq, tv = torch.from_numpy(q).double(), torch.from_numpy(v).double()
        score = vl(torch.tanh(w1(tq)[:, :, None, :] + w2(tv)[:, None, :, :]))[..., 0]
        if value_mask is not None:
            score = score.masked_fill(torch.from_numpy(value_mask[:, None, :] == 0), float("-inf"))
        ref = torch.softmax(score, -1) @ tv
    assert np.allclose(ref.numpy(), y, atol=1e-12), name
    tensors = dict((k, v_) for k, v_ in weights.items())
    tensors.update({"golden.query": q[:, 0, :] if single_query else q, "golden.value": v,
                    "golden.output": (y[:, 0, :] if single_query else y).astype(np.float32)})
    if value_mask is not None:
        tensors["golden.value_mask"] = value_mask
    config = {"framework": "keras", "layer": "BahdanauAttention", "units": units, "single_query": single_query,
              "causal": False, "atol": ATOL, "rtol": RTOL, "description": description}
    emit(out, f"keras_bahdanau_{name}.safetensors", name, tensors, config)


def keras_multi_head_case(out, name, seed, B, Tq, Tv, dq, dk, dv, heads, activation, use_bias, history_only,
                          value_lengths=None, self_attention=False, description=""):
    """keras-multi-head's MultiHeadAttention (CyberZHG, keras_multi_head/multi_head_attention.py and
    keras_self_attention's ScaledDotProductAttention), float64: the activation on each of Q, K, V and
    on the output; e = QK^T/sqrt(head dim); e -= 10000 (1 - lower triangle) when history_only and
    e -= 10000 (1 - value mask); softmax; weights @ V; heads concatenated; output projection."""
    rng = np.random.default_rng(seed)
    f32 = lambda *shape, s=1.0: (rng.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    q = f32(B, Tq, dq)
    k, v = (q, q) if self_attention else (f32(B, Tv, dk), f32(B, Tv, dv))
    f = dv
    prefix = f"{name}_"
    W = {prefix + "Wq": f32(dq, f, s=dq ** -0.5), prefix + "Wk": f32(dk, f, s=dk ** -0.5),
         prefix + "Wv": f32(dv, f, s=dv ** -0.5), prefix + "Wo": f32(f, f, s=f ** -0.5)}
    if use_bias:
        for n in ("bq", "bk", "bv", "bo"):
            W[prefix + n] = f32(f, s=0.3)
    act = {"relu": lambda x: np.maximum(x, 0), "linear": lambda x: x}[activation]
    g = lambda n: np.asarray(W[prefix + n], np.float64) if prefix + n in W else 0.0  # noqa: E731
    Q = act(np.asarray(q, np.float64) @ g("Wq") + g("bq"))
    K = act(np.asarray(k, np.float64) @ g("Wk") + g("bk"))
    V = act(np.asarray(v, np.float64) @ g("Wv") + g("bv"))
    hd = f // heads
    split = lambda t: t.reshape(t.shape[0], t.shape[1], heads, hd).transpose(0, 2, 1, 3)  # noqa: E731
    e = split(Q) @ split(K).transpose(0, 1, 3, 2) / np.sqrt(hd)
    S = k.shape[1]
    if history_only:
        lower = (np.arange(Tq)[:, None] >= np.arange(S)[None, :]).astype(np.float64)
        e = e - 10000.0 * (1.0 - lower)
    value_mask = None
    if value_lengths is not None:
        value_mask = (np.arange(S)[None, :] < np.asarray(value_lengths)[:, None]).astype(np.uint8)
        e = e - 10000.0 * (1.0 - value_mask[:, None, None, :].astype(np.float64))
    e = np.exp(e - e.max(-1, keepdims=True))
    a = e / e.sum(-1, keepdims=True)
    y = (a @ split(V)).transpose(0, 2, 1, 3).reshape(B, Tq, f)
    y = act(y @ g("Wo") + g("bo"))
    tensors = dict(W)
    tensors.update({"golden.query": q, "golden.output": y.astype(np.float32)})
    if not self_attention:
        tensors.update({"golden.key": k, "golden.value": v})
    if value_mask is not None:
        tensors["golden.value_mask"] = value_mask
    config = {"framework": "keras", "layer": "keras_multi_head.MultiHeadAttention", "head_num": heads,
              "activation": activation, "use_bias": use_bias, "history_only": history_only,
              "causal": history_only, "atol": ATOL, "rtol": RTOL, "description": description}
    emit(out, f"keras_multi_head_{name}.safetensors", name, tensors, config)


def total_key_width_case(out, seed):
    """keras.layers.MultiHeadAttention's layout with the scores divided by sqrt(heads * key_dim), the
    whole projection's width, as the MachineLearningMastery tutorial does; float64."""
    rng = np.random.default_rng(seed)
    B, T, D, H, kd = 2, 6, 12, 3, 5
    f32 = lambda *shape, s=1.0: (rng.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    x = f32(B, T, D)
    W = {"query/kernel": f32(D, H, kd, s=D ** -0.5), "query/bias": f32(H, kd, s=0.3),
         "key/kernel": f32(D, H, kd, s=D ** -0.5), "key/bias": f32(H, kd, s=0.3),
         "value/kernel": f32(D, H, kd, s=D ** -0.5), "value/bias": f32(H, kd, s=0.3),
         "attention_output/kernel": f32(H, kd, D, s=(H * kd) ** -0.5), "attention_output/bias": f32(D, s=0.3)}
    g = {n: np.asarray(t, np.float64) for n, t in W.items()}
    x64 = np.asarray(x, np.float64)
    proj = lambda n: np.einsum("btd,dhk->bhtk", x64, g[n + "/kernel"]) + g[n + "/bias"][None, :, None, :]  # noqa: E731
    Q, K, V = proj("query"), proj("key"), proj("value")
    e = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(H * kd)
    e = np.exp(e - e.max(-1, keepdims=True))
    a = e / e.sum(-1, keepdims=True)
    y = np.einsum("bhtk,hkd->btd", a @ V, g["attention_output/kernel"]) + g["attention_output/bias"]
    tensors = dict(W)
    tensors.update({"golden.query": x, "golden.output": y.astype(np.float32)})
    config = {"framework": "keras", "layer": "MultiHeadAttention, scores / sqrt(heads * key_dim)", "heads": H,
              "key_dim": kd, "causal": False, "atol": ATOL, "rtol": RTOL,
              "description": "Keras MultiHeadAttention weights, self-attention, scores scaled by 1/sqrt(15) (the "
                             "whole query projection's width, as the MachineLearningMastery tutorial) instead of "
                             "1/sqrt(5)"}
    safetensors_io.write(os.path.join(out, "keras_mha_total_key_width_scale.safetensors"), tensors,
                         {"config": json.dumps(config, sort_keys=True), "numpy_version": np.__version__,
                          "generator": "tools/make_keras_attention_goldens.py"})


def tutorial_case(out, name, seed, B, T, d_in, heads, d_k, d_v, d_out, names, whole_width_scale, lengths=None,
                  causal=False, description=""):
    """Multi-head attention as the tutorials write it: four Dense layers named `names`, heads splitting
    each projection's columns, scores / sqrt(per-head depth) (TensorFlow's custom-layer tutorial) or
    / sqrt(d_k) of the whole projection (MachineLearningMastery), masks added as -1e9 * mask with
    1 = masked (padding beyond `lengths`, the look-ahead upper triangle); float64."""
    rng = np.random.default_rng(seed)
    f32 = lambda *shape, s=1.0: (rng.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    x = f32(B, T, d_in)
    shapes = [(d_in, d_k), (d_in, d_k), (d_in, d_v), (d_v, d_out)]
    W = {}
    for n, (i, o) in zip(names, shapes):
        W[f"{n}/kernel"] = f32(i, o, s=i ** -0.5)
        W[f"{n}/bias"] = f32(o, s=0.3)
    g = {k: np.asarray(v, np.float64) for k, v in W.items()}
    x64 = np.asarray(x, np.float64)
    dense = lambda t, n: t @ g[f"{n}/kernel"] + g[f"{n}/bias"]  # noqa: E731
    split = lambda t: t.reshape(B, T, heads, -1).transpose(0, 2, 1, 3)  # noqa: E731
    q, k, v = split(dense(x64, names[0])), split(dense(x64, names[1])), split(dense(x64, names[2]))
    scale = np.sqrt(d_k) if whole_width_scale else np.sqrt(d_k // heads)
    scores = q @ k.transpose(0, 1, 3, 2) / scale
    mask = np.zeros((B, 1, T, T))
    if lengths is not None:
        mask = np.maximum(mask, (np.arange(T)[None, None, None, :] >= np.asarray(lengths)[:, None, None, None]))
    if causal:
        mask = np.maximum(mask, np.triu(np.ones((T, T)), 1)[None, None])
    scores = scores + -1e9 * mask
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    a = scores / scores.sum(-1, keepdims=True)
    y = dense((a @ v).transpose(0, 2, 1, 3).reshape(B, T, d_v), names[3])
    tensors = dict(W)
    tensors.update({"golden.query": x, "golden.output": y.astype(np.float32)})
    if lengths is not None:
        tensors["golden.key_lengths"] = np.asarray(lengths, np.int32)
    config = {"framework": "keras", "layer": "tutorial multi-head attention", "heads": heads, "d_k": d_k,
              "d_v": d_v, "causal": causal, "atol": ATOL, "rtol": RTOL, "description": description}
    emit(out, f"keras_tutorial_mha_{name}.safetensors", name, tensors, config)


def relative_attention(q, k, v, rel_k, rel_v, K, keep):
    """tensor2tensor's dot_product_attention_relative (Shaw et al. 2018) in float64: q, k, v
    (B, H, T, depth); a_ij = table[clip(j - i, -K, K) + K]; q scaled by depth^-0.5 first, so both
    score terms are; masked keys get -1e9 (keep: (B, Tq, Tv) booleans); rel_v None: no value term."""
    Tq, Tv, depth = q.shape[2], k.shape[2], q.shape[3]
    index = np.clip(np.arange(Tv)[None, :] - np.arange(Tq)[:, None], -K, K) + K
    q = q * depth ** -0.5
    logits = q @ k.transpose(0, 1, 3, 2) + np.einsum("bhid,ijd->bhij", q, rel_k[index])
    logits = logits + -1e9 * (~keep[:, None])
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w = w / w.sum(-1, keepdims=True)
    out = w @ v
    if rel_v is not None:
        out = out + np.einsum("bhij,ijd->bhid", w, rel_v[index])
    return out


def relative_keep(B, Tq, Tv, lengths, causal):
    keep = np.ones((B, Tq, Tv), bool)
    if lengths is not None:
        keep &= np.arange(Tv)[None, None, :] < np.asarray(lengths)[:, None, None]
    if causal:
        keep &= np.tril(np.ones((Tq, Tv), bool))[None]
    return keep


def write_layer_case(out, name, tensors, config):
    """Writes keras_<name>.safetensors into the directory `out`, or to `out` itself if it names a file."""
    path = out if out.endswith(".safetensors") else os.path.join(out, f"keras_{name}.safetensors")
    safetensors_io.write(path, tensors,
                         {"config": json.dumps(config, sort_keys=True), "numpy_version": np.__version__,
                          "generator": "tools/make_keras_attention_goldens.py",
                          **safetensors_io.self_test_metadata(tensors, config)})


def relative_core_case(out, name, seed, B, Tq, Tv, dk, dv, K, lengths=None, causal=False, values=True,
                       distinct_key=True, description=""):
    """The single-head core on given q, k, v (relative_dot_attention)."""
    rng = np.random.default_rng(seed)
    f32 = lambda *shape, s=1.0: (rng.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    q, v = f32(B, Tq, dk), f32(B, Tv, dv)
    k = f32(B, Tv, dk) if distinct_key else v
    rel_k, rel_v = f32(2 * K + 1, dk, s=0.5), f32(2 * K + 1, dv, s=0.5)
    d = lambda t: np.asarray(t, np.float64)  # noqa: E731
    y = relative_attention(d(q)[:, None], d(k)[:, None], d(v)[:, None], d(rel_k), d(rel_v) if values else None, K,
                           relative_keep(B, Tq, Tv, lengths, causal))[:, 0]
    # The same by the paper's per-pair definition, as loops: guards the vectorised indexing above.
    keep = relative_keep(B, Tq, Tv, lengths, causal)
    for b in range(B):
        for i in range(Tq):
            r = [min(max(j - i, -K), K) + K for j in range(Tv)]
            e = np.array([d(q)[b, i] @ (d(k)[b, j] + d(rel_k)[r[j]]) / np.sqrt(dk) - 1e9 * (not keep[b, i, j])
                          for j in range(Tv)])
            a_ = np.exp(e - e.max())
            a_ /= a_.sum()
            z = sum(a_[j] * (d(v)[b, j] + (d(rel_v)[r[j]] if values else 0)) for j in range(Tv))
            assert np.allclose(z, y[b, i], atol=1e-12), (name, b, i)
    tensors = {"rel_k": rel_k, "golden.query": q, "golden.value": v, "golden.output": y.astype(np.float32)}
    if values:
        tensors["rel_v"] = rel_v
    if distinct_key:
        tensors["golden.key"] = k
    if lengths is not None:
        tensors["golden.value_mask"] = (np.arange(Tv)[None, :] < np.asarray(lengths)[:, None]).astype(np.uint8)
    write_layer_case(out, name, tensors, {"framework": "keras", "layer": "relative_dot_attention", "K": K,
                                          "causal": causal, "relative_values": values, "atol": ATOL, "rtol": RTOL,
                                          "description": description})


def relative_mha(x, g, prefix, heads, K, keep, values=True):
    """The Keras tutorials' multi-head layer with Shaw's core: Dense wq, wk, wv (with bias), depth
    d/heads, heads split from the columns, Dense `dense` on the merged heads."""
    B, T, D = x.shape
    dense = lambda t, n: t @ g[f"{prefix}{n}/kernel"] + g[f"{prefix}{n}/bias"]  # noqa: E731
    split = lambda t: t.reshape(B, T, heads, -1).transpose(0, 2, 1, 3)  # noqa: E731
    o = relative_attention(split(dense(x, "wq")), split(dense(x, "wk")), split(dense(x, "wv")),
                           g[f"{prefix}rel_k"], g[f"{prefix}rel_v"] if values else None, K, keep)
    return dense(o.transpose(0, 2, 1, 3).reshape(B, T, D), "dense")


def relative_mha_weights(rng, prefix, D, heads, K, values=True):
    f32 = lambda *shape, s=1.0: (rng.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    W = {}
    for n in ("wq", "wk", "wv", "dense"):
        W[f"{prefix}{n}/kernel"] = f32(D, D, s=D ** -0.5)
        W[f"{prefix}{n}/bias"] = f32(D, s=0.3)
    W[f"{prefix}rel_k"] = f32(2 * K + 1, D // heads, s=0.5)
    if values:
        W[f"{prefix}rel_v"] = f32(2 * K + 1, D // heads, s=0.5)
    return W


def relative_mha_case(out, name, seed, B, T, D, heads, K, lengths=None, causal=False, values=True,
                      block_epsilon=None, description="", file=None, sample="golden."):
    """relative_position_attention self-attention; with block_epsilon, the wrapper block
    LayerNormalization(epsilon)(x + attention(x)) named `block`: the attention under
    `block/attention/`, the norm under `block/norm/`."""
    rng = np.random.default_rng(seed)
    prefix = "" if block_epsilon is None else "block/attention/"
    W = relative_mha_weights(rng, prefix, D, heads, K, values)
    x = (rng.standard_normal((B, T, D))).astype(np.float32)
    g = {k: np.asarray(v, np.float64) for k, v in W.items()}
    x64 = np.asarray(x, np.float64)
    y = relative_mha(x64, g, prefix, heads, K, relative_keep(B, T, T, lengths, causal), values)
    if block_epsilon is not None:
        gamma = (1 + 0.2 * rng.standard_normal(D)).astype(np.float32)
        beta = (0.2 * rng.standard_normal(D)).astype(np.float32)
        W["block/norm/gamma"], W["block/norm/beta"] = gamma, beta
        s = x64 + y
        mean = s.mean(-1, keepdims=True)
        var = ((s - mean) ** 2).mean(-1, keepdims=True)
        y = (s - mean) / np.sqrt(var + block_epsilon) * gamma + beta
    tensors = dict(W)
    tensors.update({sample + "query": x, sample + "output": y.astype(np.float32)})
    if lengths is not None:
        tensors[sample + "key_lengths"] = np.asarray(lengths, np.int32)
    write_layer_case(file or out, name, tensors, {"framework": "keras", "layer": "relative_position_attention",
                                          "heads": heads, "K": K, "causal": causal, "relative_values": values,
                                          "epsilon": block_epsilon, "atol": ATOL, "rtol": RTOL,
                                          "description": description})


def layer_examples():
    """The layers of examples/keras_attention_layers.cpp: encoder outputs of 20 steps, 32 wide, with
    padding, attended by decoder queries; the multi-head forms on 12 positions."""
    ex = LayerExamples()
    case(ex, "luong", 531, 3, 6, 20, 32, 32, use_scale=True, value_lengths=[20, 13, 4],
         description="Attention(use_scale=True)([decoder, encoder], mask=[None, encoder_mask]): Luong's dot "
                     "score times a learned scalar")
    case(ex, "luong_concat", 532, 3, 6, 20, 32, 32, score_mode="concat", use_scale=True, value_lengths=[20, 13, 4],
         query_keep=[[1] * 6, [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]],
         description="Attention(score_mode='concat', use_scale=True) with value and query masks")
    additive_case(ex, "additive", 533, 3, 6, 20, 32, value_lengths=[20, 13, 4],
                  description="AdditiveAttention() (Bahdanau-style score without projections, learned (32,) scale)")
    bahdanau_case(ex, "bahdanau", 534, 3, 1, 20, 32, 32, 16, value_lengths=[20, 13, 4], single_query=True,
                  description="BahdanauAttention(16) of TensorFlow's NMT tutorial: one decoder state per sentence "
                              "against the encoder outputs")
    keras_multi_head_case(ex, "mha", 535, 3, 12, 12, 32, 32, 32, 4, "relu", True, False, value_lengths=[12, 7, 3],
                          self_attention=True,
                          description="keras-multi-head MultiHeadAttention(head_num=4) with its defaults (relu on "
                                      "Q, K, V and the output) as self-attention, padded positions masked")
    tutorial_case(ex, "tutorial_tf", 536, 3, 12, 32, 4, 32, 32, 32, ("wq", "wk", "wv", "dense"), False,
                  lengths=[12, 7, 3],
                  description="TensorFlow's custom-layer tutorial MultiHeadAttention(d_model=32, num_heads=4) with "
                              "its padding mask")
    tutorial_case(ex, "tutorial_mlm", 537, 2, 12, 16, 4, 32, 48, 64, ("W_q", "W_k", "W_v", "W_o"), True,
                  causal=True,
                  description="MachineLearningMastery's MultiHeadAttention(h=4, d_k=32, d_v=48, d_model=64) on "
                              "16-wide inputs, scores / sqrt(32), with its look-ahead mask")
    return ex


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "layers"))
    ap.add_argument("--example", help="write the weights of examples/relative_wrapper_attention.cpp to this file")
    ap.add_argument("--layer-examples", help="write the layers and samples of examples/keras_attention_layers.cpp "
                    "to this file")
    args = ap.parse_args()
    if args.layer_examples:
        layer_examples().write(args.layer_examples)
        return
    if args.example:
        # d_model 128, 8 heads, K = 10; the sample is the file's self-test (`selftest.` tensors).
        relative_mha_case(None, "relative_wrapper_block_128", 528, 2, 48, 128, 8, 10, block_epsilon=1e-6,
                          file=args.example, sample="selftest.",
                          description="LayerNormalization(epsilon=1e-6)(x + relative attention(x)): 8 heads, "
                          "d 128, K=10, on 48 positions; float64")
        return
    out = args.out
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
    additive_case(out, "scale", 511, 2, 5, 7, 6, description="AdditiveAttention() (use_scale=True): a learned (dim,) scale")
    additive_case(out, "no_scale_masks", 512, 3, 5, 7, 6, use_scale=False, distinct_key=True,
                  value_lengths=[7, 2, 5], query_keep=[[1, 1, 1, 1, 1], [1, 1, 1, 0, 1], [0, 1, 1, 1, 1]],
                  description="AdditiveAttention(use_scale=False) on [query, value, key] with value and query masks")
    additive_case(out, "causal", 513, 2, 7, 7, 6, causal=True,
                  description="AdditiveAttention()(..., use_causal_mask=True)")
    bahdanau_case(out, "single_query", 514, 3, 1, 9, 10, 12, 8, value_lengths=[9, 5, 2], single_query=True,
                  description="BahdanauAttention(8) of TensorFlow's NMT tutorial: query (batch, 10) = the decoder "
                              "state, values (batch, 9, 12) as keys and values, padded values masked")
    bahdanau_case(out, "sequence", 515, 2, 4, 6, 10, 12, 7,
                  description="The same layer over a sequence of 4 queries")
    keras_multi_head_case(out, "self", 516, 2, 6, 6, 12, 12, 12, 3, "relu", True, False, self_attention=True,
                          description="MultiHeadAttention(head_num=3) with its defaults (relu on Q, K, V and the "
                                      "output, biases) as self-attention, d = f = 12")
    keras_multi_head_case(out, "cross_history_mask", 517, 3, 5, 7, 10, 8, 12, 4, "relu", True, True,
                          value_lengths=[7, 4, 2],
                          description="[query (10 wide), key (8), value (12)]: f = 12 from the value, head_num=4, "
                                      "history_only=True (top-left) and a value mask, both subtracted as 10000")
    keras_multi_head_case(out, "linear_no_bias", 518, 2, 5, 5, 9, 9, 9, 3, "linear", False, True,
                          self_attention=True,
                          description="activation=None (linear), use_bias=False, history_only=True")
    total_key_width_case(out, 519)
    tutorial_case(out, "tensorflow", 520, 3, 6, 12, 3, 12, 12, 12, ("wq", "wk", "wv", "dense"), False,
                  lengths=[6, 4, 1],
                  description="TensorFlow's custom-layer tutorial MultiHeadAttention(d_model=12, num_heads=3): Dense "
                              "wq, wk, wv, dense; depth = 4; a padding mask (1 = pad) added as -1e9")
    tutorial_case(out, "machinelearningmastery", 521, 2, 6, 7, 4, 12, 16, 10, ("W_q", "W_k", "W_v", "W_o"), True,
                  causal=True,
                  description="MachineLearningMastery's MultiHeadAttention(h=4, d_k=12, d_v=16, d_model=10) on 7-wide "
                              "inputs: W_q, W_k = Dense(12), W_v = Dense(16), W_o = Dense(10); scores / sqrt(12), the "
                              "whole d_k; the look-ahead mask (1 = masked) added as -1e9")

    relative_core_case(out, "relative_core", 522, 2, 9, 9, 6, 5, 3, lengths=[9, 5],
                       description="Shaw relative attention core, K=3 on 9 positions (clipping on both sides), "
                       "distinct key, rel_k and rel_v, value lengths [9, 5]; float64")
    relative_core_case(out, "relative_core_causal_no_values", 523, 2, 7, 7, 6, 6, 2, causal=True, values=False,
                       distinct_key=False, description="Shaw core, K=2, causal, key = value, no rel_v; float64")
    relative_core_case(out, "relative_core_cross", 524, 2, 4, 11, 6, 6, 3,
                       description="Shaw core, 4 queries over 11 keys (distances j - i up to 10); float64")
    relative_mha_case(out, "relative_mha", 525, 2, 10, 12, 3, 4, lengths=[10, 6],
                      description="relative_position_attention: 3 heads, d 12, K=4, T=10, key lengths [10, 6]; "
                      "Dense wq/wk/wv/dense with bias; float64")
    relative_mha_case(out, "relative_mha_causal_no_values", 526, 2, 9, 8, 2, 3, causal=True, values=False,
                      description="relative_position_attention: 2 heads, d 8, K=3, causal, no rel_v; float64")
    relative_mha_case(out, "relative_wrapper_block", 527, 2, 14, 16, 2, 10, block_epsilon=1e-6,
                      description="LayerNormalization(epsilon=1e-6)(x + relative attention(x)): 2 heads, d 16, "
                      "K=10 (the Keras examples' value) on 14 positions; float64")

if __name__ == "__main__":
    main()
