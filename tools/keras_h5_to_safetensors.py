#!/usr/bin/python3
"""Converts Keras HDF5 weights to safetensors under the names typeformer's naming::keras reads.

    /usr/bin/python3 tools/keras_h5_to_safetensors.py INPUT --out FILE.safetensors
        [--config CONFIG.json] [--list]
        [--selftest-input X.npy --selftest-output Y.npy [--key-lengths N,N,..] [--causal]
         [--atol A] [--rtol R]] [--weights-dtype f32|f16|bf16]

INPUT is one of
  model.h5 / weights.h5    Keras 2 (tf.keras, standalone Keras 2.x): model.save() or
                           model.save_weights() in HDF5
  model.weights.h5         Keras 3: model.save_weights()
  model.keras              Keras 3: model.save(), a zip archive holding config.json and
                           model.weights.h5 (the config resolves what the weights alone cannot)

The naming tables (what each format stores -> the name typeformer reads):

  Keras 2      every layer group lists its weights in the `weight_names` attribute, and each
               weight is the dataset <group>/<weight name>:
                 model_weights/dense/dense/kernel:0           -> dense/kernel
                 model_weights/mha/mha/query/kernel:0         -> mha/query/kernel
                 model_weights/lstm/lstm/lstm_cell/kernel:0   -> lstm/kernel   (cell scope dropped)
               i.e. the weight name without its ":0" and without a recurrent cell's scope
               (lstm_cell, gru_cell, simple_rnn_cell and their _N copies).
               A weight stored without its layer's scope gets it (att_Wq:0 in group att ->
               att/att_Wq).
  keras-multi-head (a Keras 2 layer package): its MultiHeadAttention names its weights after
               the layer, as typeformer's keras_multi_head_weights reads them in a model:
                 model_weights/att/att/att_Wq:0               -> att/att_Wq  (also _bq, _Wk,
                 _bk, _Wv, _bv, _Wo, _bo), which a lone layer named "att" reads by default
  Keras 3      weights are stored by attribute path, numbered in creation order, without names:
                 layers/dense/vars/0                          -> dense/kernel
                 layers/dense/vars/1                          -> dense/bias
                 layers/mha/_query_dense/vars/0               -> mha/query/kernel
                 layers/mha/_output_dense/vars/1              -> mha/attention_output/bias
                 layers/lstm/cell/vars/0, 1, 2                -> lstm/kernel, recurrent_kernel, bias
                 layers/norm/vars/0, 1                        -> norm/gamma, norm/beta
                 layers/embedding/vars/0                      -> embedding/embeddings
               Which names the numbers stand for depends on the layer's class and options
               (Dense(use_bias=False) has only vars/0; LayerNormalization(center=False) only
               gamma): a .keras archive carries its config, and for a bare .weights.h5 pass the
               model's config with --config (model.to_json() saved to a file); without one the
               class is inferred from the shapes and an ambiguous layer is refused.

None of these layouts could be checked against a file written by Keras itself here (Keras and
TensorFlow are not installable from Debian 12): the tables come from reading Keras's saving code,
and tests/export runs them on files built in those layouts by
tools/keras_goldens/make_keras_h5_fixtures.py. See docs/exporting.md.

--selftest-input / --selftest-output add a self-test: the sample and what Keras returned for it
(`np.save('y.npy', model.predict(x))`), checked by load_weights(..., verify::on) within atol +
rtol * |expected|. --list prints the conversion table instead of writing.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tempfile
import zipfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


class ConversionError(Exception):
    pass


def text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


# ---------------------------------------------------------------------------------------------
# Keras 2


def chunked_attribute(group, name: str) -> list[str]:
    """Keras 2 splits an attribute too large for an HDF5 header into name0, name1, ..."""
    if name in group.attrs:
        return [text(v) for v in group.attrs[name]]
    values, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        values += [text(v) for v in group.attrs[f"{name}{chunk}"]]
        chunk += 1
    return values


CELL_SCOPE = re.compile(r"(^|/)(lstm_cell|gru_cell|simple_rnn_cell)(_\d+)?/")


def keras2_name(layer: str, weight: str) -> str:
    """dense/kernel:0 -> dense/kernel; lstm/lstm_cell/kernel:0 -> lstm/kernel; a weight stored
    without its layer's scope (Keras 3.0-3.2 writing .h5: kernel) gets it: dense/kernel."""
    name = re.sub(r":\d+$", "", weight)
    name = CELL_SCOPE.sub(lambda m: m.group(1), name)
    parts = name.split("/")
    if layer in parts[:-1]:  # graph-mode Keras may add an outer scope: sequential/dense/kernel
        return "/".join(parts[parts.index(layer):])
    return f"{layer}/{name}"


def read_keras2(h5) -> list[tuple[str, str, np.ndarray]]:
    root = h5["model_weights"] if "model_weights" in h5 else h5
    layers = chunked_attribute(root, "layer_names")
    if not layers:
        raise ConversionError("no layer_names attribute: not a Keras 2 HDF5 weight file")
    top = root.get("top_level_model_weights")
    if top is not None and chunked_attribute(top, "weight_names"):
        raise ConversionError("the model itself holds weights (top_level_model_weights): "
                              "typeformer has no layer for them")
    out = []
    for layer in layers:
        if layer not in root:
            raise ConversionError(f"layer_names lists {layer!r}, which has no group")
        group = root[layer]
        for weight in chunked_attribute(group, "weight_names"):
            if weight not in group or not isinstance(group[weight], h5py.Dataset):
                raise ConversionError(f"layer {layer!r} lists weight {weight!r}, which has no dataset")
            out.append((f"{layer}/{weight}", keras2_name(layer, weight), group[weight][()]))
    return out


# ---------------------------------------------------------------------------------------------
# Keras 3


def snake_case(class_name: str) -> str:
    """Keras's naming.to_snake_case: the path segment of a layer held in a list."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


KNOWN_CLASSES = ["Dense", "EinsumDense", "Conv1D", "Embedding", "LayerNormalization", "LSTM",
                 "MultiHeadAttention", "InputLayer", "Add", "Dropout", "Flatten", "Activation"]
CLASS_OF_SEGMENT = {snake_case(c): c for c in KNOWN_CLASSES}

# MultiHeadAttention's projections: Keras 3.0 saved them under their private attributes, 3.1 and
# later under the public ones.
MHA_SUBLAYERS = {"query": ("query_dense", "_query_dense"), "key": ("key_dense", "_key_dense"),
                 "value": ("value_dense", "_value_dense"),
                 "attention_output": ("output_dense", "_output_dense")}


def var_names(cls: str, config: dict) -> list[str] | None:
    """The names of a layer's vars/0, vars/1, ... (its own variables in creation order)."""
    bias = config.get("use_bias", True)
    if cls in ("Dense", "EinsumDense", "Conv1D"):
        return ["kernel", "bias"] if bias else ["kernel"]
    if cls == "LayerNormalization":
        return (["gamma"] if config.get("scale", True) else []) + \
               (["beta"] if config.get("center", True) else [])
    if cls == "Embedding":
        return ["embeddings"]
    if cls == "LSTMCell":
        return ["kernel", "recurrent_kernel", "bias"] if bias else ["kernel", "recurrent_kernel"]
    return None


def vars_of(group) -> list[np.ndarray]:
    if "vars" not in group:
        return []
    stored = group["vars"]
    keys = sorted(stored.keys(), key=lambda k: int(k) if k.isdigit() else -1)
    if keys != [str(i) for i in range(len(keys))]:
        raise ConversionError(f"{stored.name} holds {keys}: expected 0, 1, ...")
    return [stored[k][()] for k in keys]


def container_paths(layer_list: list) -> dict:
    """Path segment -> (class, config) for the layers of a Keras 3 container: each layer held in
    a list is saved under its class in snake case, numbered _1, _2, ... within the list."""
    counts, paths = {}, {}
    for layer in layer_list:
        cls = layer.get("class_name", "")
        n = counts.get(snake_case(cls), 0)
        counts[snake_case(cls)] = n + 1
        paths[snake_case(cls) if n == 0 else f"{snake_case(cls)}_{n}"] = (cls, layer.get("config", {}))
    return paths


def model_layers(model_config: dict | None) -> list | None:
    if not model_config:
        return None
    cfg = model_config.get("config", model_config)
    return cfg.get("layers") if isinstance(cfg, dict) else None


def read_keras3(h5, model_config: dict | None) -> list[tuple[str, str, np.ndarray]]:
    if "layers" not in h5:
        raise ConversionError("no 'layers' group: not a Keras 3 .weights.h5 file")
    if vars_of(h5):
        raise ConversionError("the model itself holds variables (vars/ at the root): typeformer "
                              "has no layer for them")
    out = []

    def named(path, values, names, what):
        if names is None or len(names) != len(values):
            raise ConversionError(
                f"{path}: {len(values)} vars for {what}"
                f"{'' if names is None else f', which has {names}'}")
        return [(f"{path}/vars/{i}", n, v) for i, (n, v) in enumerate(zip(names, values))]

    def layer(group, path, segment, configs, scope):
        cls, cfg = configs.get(segment, (None, {})) if configs is not None else (None, {})
        if cls is None:
            cls = CLASS_OF_SEGMENT.get(re.sub(r"_\d+$", "", segment))
        name = cfg.get("name") or text(group.attrs.get("name", "")) or \
            (text(group["vars"].attrs.get("name", "")) if "vars" in group else "")
        values = vars_of(group)
        if not name:
            if not values and not any(isinstance(group[k], h5py.Group) and k != "vars" for k in group):
                return  # a layer without weights (InputLayer, Add, ...): nothing to name
            raise ConversionError(
                f"{path}: Keras 3 stores layers by class ({segment}), and this file does not "
                "record the layer's name (Keras before 3.6 does not): pass the model config "
                "(--config model.json from model.to_json(), or convert the .keras archive)")
        full = "/".join(scope + [name])
        if cls == "MultiHeadAttention":
            for keras_name, attributes in MHA_SUBLAYERS.items():
                for attribute in attributes:
                    if attribute in group:
                        dense = vars_of(group[attribute])
                        names = ["kernel", "bias"] if cfg.get("use_bias", True) else ["kernel"]
                        out.extend((p, f"{full}/{keras_name}/{n}", v) for p, n, v in
                                   named(f"{path}/{attribute}", dense, names, "an EinsumDense"))
                        break
            return
        if cls == "LSTM":
            if "cell" not in group:
                raise ConversionError(f"{path}: an LSTM without a 'cell' group")
            out.extend((p, f"{full}/{n}", v) for p, n, v in
                       named(f"{path}/cell", vars_of(group["cell"]), var_names("LSTMCell", cfg),
                             "an LSTM cell"))
            return
        if "layers" in group:  # a nested model
            inner = container_paths(cfg["layers"]) if isinstance(cfg.get("layers"), list) else None
            for child in group["layers"]:
                layer(group["layers"][child], f"{path}/layers/{child}", child, inner, scope + [name])
        if values:
            if cls is None:
                raise ConversionError(f"{path}: a layer of unknown class with {len(values)} vars; "
                                      "pass the model config (--config)")
            out.extend((p, f"{full}/{n}", v) for p, n, v in
                       named(path, values, var_names(cls, cfg), f"a {cls}"))

    layers = model_layers(model_config)
    configs = container_paths(layers) if layers is not None else None
    for child in h5["layers"]:
        layer(h5["layers"][child], f"layers/{child}", child, configs, [])
    return out


# ---------------------------------------------------------------------------------------------


def open_input(path: str, config_path: str | None):
    """(format, h5py.File, model config or None); the caller closes the file."""
    config = None
    if config_path:
        with open(config_path) as f:
            config = json.load(f)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "model.weights.h5" not in names:
                raise ConversionError(f"{path}: a zip without model.weights.h5 is not a .keras archive")
            if config is None and "config.json" in names:
                config = json.loads(archive.read("config.json"))
            blob = archive.read("model.weights.h5")
        return "keras3", h5py.File(io.BytesIO(blob), "r"), config
    try:
        h5 = h5py.File(path, "r")
    except OSError as e:
        raise ConversionError(f"{path}: not an HDF5 file ({e})")
    if "layer_names" in h5.attrs or "model_weights" in h5 or "layer_names0" in h5.attrs:
        if config is None and "model_config" in h5.attrs:
            config = json.loads(text(h5.attrs["model_config"]))
        return "keras2", h5, config
    if "layers" in h5:
        return "keras3", h5, config
    h5.close()
    raise ConversionError(f"{path}: neither a Keras 2 file (layer_names) nor a Keras 3 one (layers/)")


def parse_ints(value: str, what: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise ConversionError(f"{what} {value!r}: expected integers separated by commas")


def stored(value: np.ndarray, dtype: str):
    if not np.issubdtype(value.dtype, np.floating):
        return value
    if dtype == "f16":
        return value.astype(np.float16)
    if dtype == "bf16":
        return safetensors_io.bf16(value.astype(np.float32))
    return value.astype(np.float32)


def convert(args) -> int:
    kind, h5, config = open_input(args.input, args.config)
    with h5:
        rows = read_keras2(h5) if kind == "keras2" else read_keras3(h5, config)
    names = {}
    for source, name, _ in rows:
        if name in names:
            raise ConversionError(f"{source} and {names[name]} both map to {name!r}")
        names[name] = source
    if args.list:
        width = max((len(s) for s, _, _ in rows), default=0)
        for source, name, value in rows:
            print(f"{source:<{width}}  ->  {name}  {list(value.shape)} {value.dtype}")
        return 0
    tensors = {name: stored(value, args.weights_dtype) for _, name, value in rows}
    metadata = {"generator": "tools/keras_h5_to_safetensors.py", "source_format": kind,
                "source": os.path.basename(args.input), "weights_dtype": args.weights_dtype,
                "h5py_version": h5py.__version__}
    if bool(args.selftest_input) != bool(args.selftest_output):
        raise ConversionError("--selftest-input and --selftest-output go together")
    if args.selftest_input:
        x, y = np.load(args.selftest_input), np.load(args.selftest_output)
        if x.ndim < 2 or y.ndim < 2 or x.shape[0] != y.shape[0]:
            raise ConversionError(f"self-test input {list(x.shape)} and output {list(y.shape)}: "
                                  "expected (batch, seq, ...) with the same batch")
        tensors["selftest.input"] = x.astype(np.float32) if np.issubdtype(x.dtype, np.floating) \
            else x.astype(np.int64)
        tensors["selftest.output"] = y.astype(np.float32)
        if args.key_lengths:
            lengths = parse_ints(args.key_lengths, "--key-lengths")
            if len(lengths) != x.shape[0] or any(n < 0 or n > x.shape[1] for n in lengths):
                raise ConversionError(f"--key-lengths {lengths}: expected {x.shape[0]} lengths "
                                      f"in [0, {x.shape[1]}]")
            tensors["selftest.key_lengths"] = np.array(lengths, dtype=np.int64)
        if args.causal:
            metadata["selftest.causal"] = "true"
        metadata.update({"selftest.atol": repr(args.atol), "selftest.rtol": repr(args.rtol)})
    elif args.key_lengths or args.causal:
        raise ConversionError("--key-lengths and --causal describe the self-test: pass its sample")
    safetensors_io.write(args.out, tensors, metadata)
    print(f"{args.out}: {len(rows)} weight tensors from a {kind} file"
          f"{', with a self-test' if args.selftest_input else ' (no self-test)'}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("input")
    ap.add_argument("--out")
    ap.add_argument("--config", help="the model's config JSON (model.to_json()), for a bare Keras 3 file")
    ap.add_argument("--list", action="store_true", help="print the name table, write nothing")
    ap.add_argument("--selftest-input")
    ap.add_argument("--selftest-output")
    ap.add_argument("--key-lengths")
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--weights-dtype", choices=["f32", "f16", "bf16"], default="f32")
    args = ap.parse_args(argv)
    if not args.list and not args.out:
        ap.error("--out is required (or --list)")
    try:
        return convert(args)
    except ConversionError as e:
        print(f"keras_h5_to_safetensors: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
