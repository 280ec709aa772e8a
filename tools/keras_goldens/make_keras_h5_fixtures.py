#!/usr/bin/python3
"""Writes tests/data/keras_h5/: Keras HDF5 weight files in the layouts Keras 2, Keras 3 and
keras-multi-head use, holding weights whose reference outputs come from outside typeformer.

    /usr/bin/python3 tools/keras_goldens/make_keras_h5_fixtures.py [OUT_DIR]

SYNTHETIC: Keras and TensorFlow are not installable here, so no file is written by Keras. Each
is built with h5py in the layout Keras's saving code writes (docs/exporting.md names the source
read for each layout). The weights and the sample come from the TensorFlow.js fixtures in
tests/data/tfjs/ (dense_norm, embedding_lstm: saved by tfjs 4.22; mha_block: hand-built, output
from tfjs's MultiHeadAttention), and for keras-multi-head from tests/data/layers/
keras_multi_head_self.safetensors. Each model's sample input and tfjs's output for it are
written beside it as .npy files, for --selftest-input/--selftest-output (keras-multi-head's
layer alone has no self-test: its names and shapes are checked against a manifest).

The contents are deterministic (same weights, samples and layout on every run), the bytes are
not: HDF5 stamps each group with its creation time.
"""
from __future__ import annotations

import io
import json
import os
import struct
import sys
import zipfile

import h5py
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import safetensors_io  # noqa: E402

TFJS = os.path.join(ROOT, "tests", "data", "tfjs")


def tfjs_fixture(name: str):
    """(layers [(class, config)], weights {name: float32 array} in manifest order, x, y)."""
    directory = os.path.join(TFJS, name)
    with open(os.path.join(directory, "model.json")) as f:
        model = json.load(f)
    weights = {}
    for group in model["weightsManifest"]:
        data = b"".join(open(os.path.join(directory, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            assert w["dtype"] == "float32" and "quantization" not in w
            count = int(np.prod(w["shape"], dtype=np.int64))
            weights[w["name"]] = np.frombuffer(data, "<f4", count, offset).reshape(w["shape"])
            offset += 4 * count
    test = model["userDefinedMetadata"]["typeformer_selftest"]

    def sample(s):
        dtype = np.float32 if s["dtype"] == "float32" else np.int64
        return np.array(s["values"], dtype=dtype).reshape(s["shape"])

    topology = model["modelTopology"]
    layers = [(l["class_name"], l["config"]) for l in topology["config"]["layers"]]
    return topology, layers, weights, sample(test["input"]), sample(test["output"])


def layer_weights(weights: dict, layer: str) -> list[tuple[str, np.ndarray]]:
    return [(n[len(layer) + 1:], v) for n, v in weights.items() if n.startswith(layer + "/")]


def dataset(group, name, value):
    group.create_dataset(name, data=value, track_times=False)


def keras2_file(path: str, layers: list[str], weights: dict, *, full_model: bool,
                weight_name, model_config=None):
    """Keras 2's legacy HDF5 layout (hdf5_format.save_weights_to_hdf5_group): the root (or
    model_weights for model.save) lists layer_names; each layer group lists weight_names, and a
    weight is the dataset <layer group>/<weight name>."""
    with h5py.File(path, "w", track_order=True) as f:
        if full_model:
            f.attrs["keras_version"] = b"2.15.0"
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = json.dumps(model_config).encode()
            root = f.create_group("model_weights", track_order=True)
        else:
            root = f
        root.attrs["layer_names"] = np.array([l.encode() for l in layers])
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.15.0"
        for layer in layers:
            g = root.create_group(layer, track_order=True)
            names = []
            for short, value in layer_weights(weights, layer):
                stored = weight_name(layer, short)
                names.append(stored.encode())
                dataset(g, stored, value)
            g.attrs["weight_names"] = np.array(names, dtype="S") if names else np.array([], dtype="S1")


def keras3_h5(target, layers: list, *, record_names: bool):
    """Keras 3's layout (saving_lib, H5IOStore): a layer held in the model's `layers` list is saved
    under its class in snake case, numbered within the list (dense, dense_1, ...); its own
    variables are vars/0, vars/1, ... in creation order; a sublayer sits under the attribute
    holding it (lstm/cell, multi_head_attention/_query_dense in 3.0, query_dense from 3.1).
    From Keras 3.6 each group records the layer's name (record_names); before, only the model's
    config can map a path to a layer name. `layers`: [(path, layer name, {subpath: [values]})]."""
    with h5py.File(target, "w", track_order=True) as f:
        f.create_group("vars")
        group = f.create_group("layers", track_order=True)
        for path, name, parts in layers:
            g = group.create_group(path, track_order=True)
            if record_names:
                g.attrs["name"] = name
            for subpath, values in parts.items():
                owner = g.require_group(subpath) if subpath else g
                v = owner.create_group("vars", track_order=True)
                if record_names:
                    v.attrs["name"] = name
                for i, value in enumerate(values):
                    dataset(v, str(i), value)


def write_keras_archive(path: str, config: dict, layers: list):
    buffer = io.BytesIO()
    keras3_h5(buffer, layers, record_names=True)
    metadata = {"keras_version": "3.6.0", "date_saved": "2026-12-01@00:00:00"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in (("metadata.json", json.dumps(metadata).encode()),
                           ("config.json", json.dumps(config).encode()),
                           ("model.weights.h5", buffer.getvalue())):
            info = zipfile.ZipInfo(name, date_time=(2026, 12, 1, 0, 0, 0))
            z.writestr(info, blob, zipfile.ZIP_DEFLATED)


def save_sample(out: str, case: str, x, y):
    np.save(os.path.join(out, f"{case}_input.npy"), x)
    np.save(os.path.join(out, f"{case}_output.npy"), y)


def main(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    plain = lambda layer, short: f"{layer}/{short}:0"  # noqa: E731

    # Dense -> LayerNormalization -> Dense: Keras 2 model.save(), Keras 3 .keras archive.
    topology, layers, w, x, y = tfjs_fixture("dense_norm")
    names = [c["name"] for _, c in layers]
    keras2_file(os.path.join(out, "dense_norm_keras2.h5"), names, w, full_model=True,
                weight_name=plain, model_config=topology)
    write_keras_archive(os.path.join(out, "dense_norm.keras"), topology, [
        ("dense", "hidden", {"": [w["hidden/kernel"], w["hidden/bias"]]}),
        ("layer_normalization", "norm", {"": [w["norm/gamma"], w["norm/beta"]]}),
        ("dense_1", "out", {"": [w["out/kernel"], w["out/bias"]]})])
    save_sample(out, "dense_norm", x, y)

    # Embedding -> LSTM -> Dense: Keras 2 save_weights (the LSTM's weights under its cell's
    # scope, lstm/lstm_cell/kernel:0), Keras 3 .weights.h5 with the config beside it.
    topology, layers, w, x, y = tfjs_fixture("embedding_lstm")
    names = [c["name"] for _, c in layers]
    cell = lambda layer, short: (f"{layer}/lstm_cell/{short}:0" if layer == "lstm"  # noqa: E731
                                 else f"{layer}/{short}:0")
    keras2_file(os.path.join(out, "embedding_lstm_keras2.weights.h5"), names, w,
                full_model=False, weight_name=cell)
    keras3_h5(os.path.join(out, "embedding_lstm.weights.h5"), [
        ("embedding", "embedding", {"": [w["embedding/embeddings"]]}),
        ("lstm", "lstm", {"cell": [w["lstm/kernel"], w["lstm/recurrent_kernel"], w["lstm/bias"]]}),
        ("dense", "classifier", {"": [w["classifier/kernel"], w["classifier/bias"]]})],
        record_names=True)
    save_sample(out, "embedding_lstm", x, y)

    # MultiHeadAttention + residual + LayerNormalization: Keras 2 (EinsumDense sublayers named
    # query, key, value, attention_output) and Keras 3 (attributes _query_dense, ...).
    topology, layers, w, x, y = tfjs_fixture("mha_block")
    names = [c["name"] for _, c in layers]
    keras2_file(os.path.join(out, "mha_block_keras2.h5"), names, w, full_model=True,
                weight_name=plain, model_config=topology)
    # Keras 3.0: private attribute names, empty vars groups, no layer names (needs the config).
    keras3_h5(os.path.join(out, "mha_block.weights.h5"), [
        ("input_layer", "input", {"": []}),
        ("multi_head_attention", "mha", {
            "": [], **{f"_{k}_dense": [w[f"mha/{k}/kernel"], w[f"mha/{k}/bias"]]
                       for k in ("query", "key", "value")},
            "_output_dense": [w["mha/attention_output/kernel"], w["mha/attention_output/bias"]]}),
        ("add", "add", {"": []}),
        ("layer_normalization", "norm", {"": [w["norm/gamma"], w["norm/beta"]]})],
        record_names=False)
    with open(os.path.join(out, "mha_block_config.json"), "w") as f:
        json.dump(topology, f)
    save_sample(out, "mha_block", x, y)

    # keras-multi-head's MultiHeadAttention named "self": weights self_Wq ... as tf.keras scopes
    # them (self/self_Wq:0), in a Keras 2 save_weights file.
    golden, _ = safetensors_io.read(os.path.join(ROOT, "tests", "data", "layers",
                                                 "keras_multi_head_self.safetensors"))
    kmh = {f"self/{n}": golden[n] for n in
           ("self_Wq", "self_bq", "self_Wk", "self_bk", "self_Wv", "self_bv", "self_Wo", "self_bo")}
    keras2_file(os.path.join(out, "keras_multi_head_keras2.weights.h5"), ["self"], kmh,
                full_model=False, weight_name=plain)
    print(f"wrote {len(os.listdir(out))} files to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "data", "keras_h5"))
