#!/usr/bin/python3
"""Exports a PyTorch module's weights to safetensors, with a self-test that typeformer checks.

    /usr/bin/python3 tools/export_torch.py MODULE --out FILE.safetensors
        [--input-shape B,S,D | --tokens B,S,VOCAB | --input FILE.npy]
        [--key-lengths N,N,...] [--causal] [--call EXPR] [--weights-dtype f32|f16|bf16]
        [--memory-shape B,S,D | --memory FILE.npy] [--memory-lengths N,N,...]
        [--atol A] [--rtol R] [--seed N]

MODULE is one of
  path/to/file.py:factory     a function in a Python file that returns the nn.Module (it may load
                              a checkpoint); `package.module:factory` works the same on sys.path
  model.pt (TorchScript)      a file written by torch.jit.save / torch.jit.script(...).save
  state_dict.pt               a file holding a bare state_dict (torch.save(model.state_dict())):
                              exports the weights only, without a self-test (there is no module
                              to run)

The file holds the module's state_dict under its own names (what naming::pytorch reads) and a
self-test that load_weights<Model>(file, naming::pytorch, verify::on) runs:

  selftest.input         the sample input: --input-shape draws float32 N(0, 1) values, --tokens
                         int64 ids in [1, VOCAB), --input takes a .npy file as it is
  selftest.key_lengths   with --key-lengths: the module gets the padding mask of those lengths
  selftest.memory        a decoder's second input (--memory-shape draws N(0, 1) values,
                         --memory takes a .npy file), in the input's layout
  selftest.memory_key_lengths
                         with --memory-lengths: the module gets the memory padding mask
  selftest.output        what PyTorch returns for it: eval mode, no_grad, float32 -- the numbers
                         the user's PyTorch program computes (its inference fast paths included)
  __metadata__           selftest.atol / selftest.rtol (a value passes when
                         |found - expected| <= atol + rtol * |expected|), selftest.causal,
                         selftest.padding_zeroed_after (with --key-lengths: the encoders, by
                         module path, whose inference fast path zeroed the padded positions),
                         config (the module tree and the options a weight file cannot show),
                         generator, torch_version

The module is called with EXPR (--call), a Python expression over `module`, `x`, `padding`
(bool (batch, seq), True where padded, or None), `causal` (float (seq, seq), -inf above the
diagonal, or None), `memory` and `memory_padding` (a decoder's memory and its padding mask, or
None) and `torch`. Without --call, nn.MultiheadAttention gets
`module(x, x, x, key_padding_mask=padding, attn_mask=causal, need_weights=False)[0]`,
nn.TransformerEncoder `module(x, mask=causal, src_key_padding_mask=padding)`,
nn.TransformerEncoderLayer `module(x, src_mask=causal, src_key_padding_mask=padding)`,
nn.TransformerDecoder and nn.TransformerDecoderLayer `module(x, memory, tgt_mask=causal,
tgt_key_padding_mask=padding, memory_key_padding_mask=memory_padding)`, and any other module
`module(x)` (a tuple result gives its first element).

The tolerance is checked, not guessed: the script also runs a float64 copy of the module on the
same sample, and refuses to write the file when PyTorch's own float32 output is more than a quarter
of the tolerance away from it -- so three quarters are left for the C++ side. --weights-dtype f16
or bf16 rounds every parameter first (the reference is computed from the rounded weights) and
stores them as F16 / BF16, half the size.

Options a weight file cannot show are checked here: a MultiheadAttention with add_zero_attn=True
(typeformer has no such layer) is refused; activation, norm_first, layer_norm_eps and batch_first
are recorded in config, and the self-test catches a C++ declaration that disagrees.
"""
from __future__ import annotations

import argparse
import ast
import copy
import importlib
import importlib.util
import inspect
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


class ExportError(Exception):
    pass


def load_module(spec: str):
    """Returns (module or None, state_dict, description) for a MODULE argument."""
    if ":" in spec and not os.path.exists(spec):
        where, name = spec.rsplit(":", 1)
        if where.endswith(".py"):
            path = os.path.abspath(where)
            if not os.path.exists(path):
                raise ExportError(f"{where}: no such file")
            sys.path.insert(0, os.path.dirname(path))
            loader = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
            source = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(source)
        else:
            source = importlib.import_module(where)
        if not hasattr(source, name):
            raise ExportError(f"{where} has no attribute {name!r}")
        module = getattr(source, name)()
        if not isinstance(module, nn.Module):
            raise ExportError(f"{spec} returned a {type(module).__name__}, not a torch.nn.Module")
        return module, module.state_dict(), spec
    if not os.path.exists(spec):
        raise ExportError(f"{spec}: no such file (expected file.py:factory, module:factory or a .pt file)")
    try:
        module = torch.jit.load(spec, map_location="cpu")
        return module, module.state_dict(), f"TorchScript {spec}"
    except RuntimeError:
        pass
    loaded = torch.load(spec, map_location="cpu")
    if isinstance(loaded, nn.Module):
        return loaded, loaded.state_dict(), f"pickled module {spec}"
    if isinstance(loaded, dict) and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return None, loaded, f"state_dict {spec}"
    raise ExportError(f"{spec}: neither TorchScript, a pickled nn.Module nor a state_dict of tensors")


def describe(module: nn.Module) -> list:
    """The module tree with the options that a state_dict does not show."""
    tree = []
    for name, m in module.named_modules():
        entry = {"name": name or "(root)", "class": type(m).__name__}
        if isinstance(m, nn.MultiheadAttention):
            if m.add_zero_attn:
                raise ExportError(f"{entry['name']}: nn.MultiheadAttention(add_zero_attn=True) has "
                                  "no typeformer equivalent, and a weight file cannot show it")
            entry.update(embed_dim=m.embed_dim, num_heads=m.num_heads, kdim=m.kdim, vdim=m.vdim,
                         batch_first=m.batch_first, bias=m.in_proj_bias is not None,
                         add_bias_kv=m.bias_k is not None)
        elif isinstance(m, nn.TransformerEncoderLayer) or isinstance(m, nn.TransformerDecoderLayer):
            act = getattr(m, "activation", None)
            entry.update(norm_first=m.norm_first, layer_norm_eps=m.norm1.eps,
                         activation=getattr(act, "__name__", type(act).__name__),
                         batch_first=m.self_attn.batch_first)
        elif isinstance(m, nn.LayerNorm):
            entry.update(normalized_shape=list(m.normalized_shape), eps=m.eps,
                         elementwise_affine=m.elementwise_affine)
        elif isinstance(m, nn.LSTM):
            entry.update(input_size=m.input_size, hidden_size=m.hidden_size, num_layers=m.num_layers,
                         batch_first=m.batch_first, bidirectional=m.bidirectional,
                         proj_size=m.proj_size)
        elif isinstance(m, nn.Conv1d):
            entry.update(in_channels=m.in_channels, out_channels=m.out_channels,
                         kernel_size=list(m.kernel_size), stride=list(m.stride),
                         padding=m.padding if isinstance(m.padding, str) else list(m.padding),
                         dilation=list(m.dilation))
        elif isinstance(m, nn.Linear):
            entry.update(in_features=m.in_features, out_features=m.out_features)
        elif isinstance(m, nn.Embedding):
            entry.update(num_embeddings=m.num_embeddings, embedding_dim=m.embedding_dim)
        tree.append(entry)
    return tree


def default_call(module) -> str:
    if isinstance(module, nn.MultiheadAttention):
        return "module(x, x, x, key_padding_mask=padding, attn_mask=causal, need_weights=False)[0]"
    if isinstance(module, nn.TransformerEncoder):
        return "module(x, mask=causal, src_key_padding_mask=padding)"
    if isinstance(module, nn.TransformerEncoderLayer):
        return "module(x, src_mask=causal, src_key_padding_mask=padding)"
    if isinstance(module, (nn.TransformerDecoder, nn.TransformerDecoderLayer)):
        return ("module(x, memory, tgt_mask=causal, tgt_key_padding_mask=padding, "
                "memory_key_padding_mask=memory_padding)")
    return "module(x)"


def changed_where(x, hidden, batch_axis: int):
    """x with new values where hidden (bool (batch, seq)) is True: N(0, 1) noise added to floats,
    other ids in [1, max id] for token ids."""
    where = hidden if batch_axis == 0 else hidden.t()
    while where.dim() < x.dim():
        where = where.unsqueeze(-1)
    if x.is_floating_point():
        return torch.where(where, x + torch.randn(x.shape, generator=torch.Generator().manual_seed(7)), x)
    top = max(int(x.max()), 2)
    return torch.where(where, x % top + 1, x)


def check_module_applies_masks(module, call: str, args, x, padding, causal, memory, memory_padding,
                               out, batch_axis: int, seq_axis: int) -> None:
    """Refuses a call that does not give the module a mask the self-test records.

    The self-test stores the key lengths, the causal flag and the memory lengths it was asked for,
    and the C++ side applies them; if the call leaves one out, PyTorch's reference is computed
    without it and the C++ self-test fails with differing numbers that read like a wrong
    declaration. Each mask is checked by what it means: the outputs it leaves visible must not
    change when the inputs it hides do. (A module may apply a mask itself, e.g. a causal language
    model, so the call need not name it.)
    """
    batch, seq = x.shape[batch_axis], x.shape[seq_axis]
    read = {n.id for n in ast.walk(ast.parse(call, mode="eval")) if isinstance(n, ast.Name)}
    if out.dim() < 2 or out.shape[batch_axis] != batch or out.shape[seq_axis] != seq:
        # No (batch, seq) rows to compare (a pooled or reshaped output): the call must at least
        # name each mask the self-test records.
        for name, option, given in (("padding", "--key-lengths", padding),
                                    ("causal", "--causal", causal),
                                    ("memory_padding", "--memory-lengths", memory_padding)):
            if given is not None and name not in read:
                raise ExportError(
                    f"{option} was given, but the call {call!r} does not pass `{name}` to the "
                    f"module (its output has no (batch, seq) positions to check the mask by). "
                    f"Pass --call with `{name}` where the module takes it (docs/exporting.md)")
        return
    positions = torch.arange(seq)
    checks = []
    if padding is not None:
        checks.append(("--key-lengths", "padding", changed_where(x, padding, batch_axis), memory, ~padding))
    if causal is not None:
        last = (positions == seq - 1).unsqueeze(0).expand(batch, seq)
        checks.append(("--causal", "causal", changed_where(x, last, batch_axis), memory, ~last))
    if memory_padding is not None:
        visible = torch.ones(batch, seq, dtype=torch.bool) if padding is None else ~padding
        checks.append(("--memory-lengths", "memory_padding", x,
                       changed_where(memory, memory_padding, batch_axis), visible))
    for option, name, x2, memory2, visible in checks:
        with torch.no_grad():
            out2 = run(module, call, x2, padding, causal, memory2, memory_padding)
        rows = visible if batch_axis == 0 else visible.t()
        a, b = out[rows].double(), out2[rows].double()
        both = torch.isfinite(a) & torch.isfinite(b)
        allowed = 1e-3 * (args.atol + args.rtol * a.abs())
        if bool(((a - b).abs() > allowed)[both].any()) or not torch.equal(torch.isfinite(a), torch.isfinite(b)):
            try:
                forward = f"; the module's forward takes ({', '.join(inspect.signature(module.forward).parameters)})"
            except (TypeError, ValueError):
                forward = ""
            how = " (the default call for this module)" if args.call is None else ""
            unread = f" The call does not pass `{name}`." if name not in read else ""
            raise ExportError(
                f"{option} was given, but the module does not apply that mask: with the call "
                f"{call!r}{how}, its outputs at visible positions change when the inputs the mask "
                f"hides change, so PyTorch's reference would be computed without the mask that the "
                f"self-test records.{unread} Pass --call with `{name}` where the module takes "
                f"it{forward}; the call variables are x, padding, causal, memory and "
                f"memory_padding (docs/exporting.md)")


def sequence_layout(module) -> tuple[int, int]:
    """(batch axis, sequence axis) of the input: PyTorch's layers default to (seq, batch, ...)."""
    for m in module.modules():
        if isinstance(m, nn.MultiheadAttention):
            return (0, 1) if m.batch_first else (1, 0)
        if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN)):
            return (0, 1) if m.batch_first else (1, 0)
    return 0, 1


def parse_ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ExportError(f"{what} {text!r}: expected integers separated by commas")
    return values


def round_weights(state: dict, dtype: str) -> dict:
    if dtype == "f32":
        return state
    rounded = {}
    for k, v in state.items():
        if v.is_floating_point():
            v = v.to(torch.float16 if dtype == "f16" else torch.bfloat16).to(v.dtype)
        rounded[k] = v
    return rounded


def stored(name: str, value: torch.Tensor, dtype: str):
    a = value.detach().cpu()
    if not a.is_floating_point():
        return a.numpy()
    if dtype == "f16":
        return a.float().numpy().astype(np.float16)
    if dtype == "bf16":
        return safetensors_io.bf16(a.float().numpy())
    return a.float().numpy()


def run(module, call: str, x, padding, causal, memory=None, memory_padding=None):
    scope = {"module": module, "x": x, "padding": padding, "causal": causal, "memory": memory,
             "memory_padding": memory_padding, "torch": torch}
    try:
        out = eval(call, {}, scope)  # noqa: S307 - the user's own expression, as on their command line
    except Exception as e:  # noqa: BLE001 - reported with the expression that raised it
        raise ExportError(f"calling {call!r} raised {type(e).__name__}: {e}")
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise ExportError(f"{call!r} returned a {type(out).__name__}, not a tensor")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("module")
    ap.add_argument("--out", required=True)
    sample = ap.add_mutually_exclusive_group()
    sample.add_argument("--input-shape", help="B,S,D: a float32 N(0, 1) sample of that shape")
    sample.add_argument("--tokens", help="B,S,VOCAB: int64 ids in [1, VOCAB)")
    sample.add_argument("--input", help="a .npy file holding the sample input")
    ap.add_argument("--key-lengths", help="N,N,...: one per batch entry; the module gets the padding mask")
    ap.add_argument("--causal", action="store_true", help="the module gets a causal mask")
    memory = ap.add_mutually_exclusive_group()
    memory.add_argument("--memory-shape", help="B,S,D: a decoder's float32 N(0, 1) memory")
    memory.add_argument("--memory", help="a .npy file holding a decoder's memory")
    ap.add_argument("--memory-lengths", help="N,N,...: one per batch entry; the memory padding mask")
    ap.add_argument("--call", help="the call expression (see above)")
    ap.add_argument("--weights-dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    try:
        return export(args)
    except ExportError as e:
        print(f"export_torch: {e}", file=sys.stderr)
        return 2


def export(args) -> int:
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    module, state, source = load_module(args.module)
    state = round_weights(state, args.weights_dtype)
    metadata = {"generator": "tools/export_torch.py", "torch_version": torch.__version__,
                "source": source, "weights_dtype": args.weights_dtype}
    tensors = {k: stored(k, v, args.weights_dtype) for k, v in state.items()}

    has_sample = args.input_shape or args.tokens or args.input
    if module is None or not has_sample:
        if has_sample:
            raise ExportError(f"{source} holds no module to run: the self-test needs one "
                              "(pass file.py:factory or a TorchScript file)")
        if args.key_lengths or args.causal or args.call or args.memory_shape or args.memory:
            raise ExportError("--key-lengths, --causal, --call and a memory need a sample input")
        safetensors_io.write(args.out, tensors, metadata)
        print(f"{args.out}: {len(tensors)} tensors, weights only (no sample input, no self-test)")
        return 0

    module.load_state_dict(state)
    module.eval()
    config = {"framework": "pytorch", "modules": describe(module)}
    batch_axis, seq_axis = sequence_layout(module)

    if args.input_shape:
        shape = parse_ints(args.input_shape, "--input-shape")
        x = torch.randn(*shape, dtype=torch.float32)
    elif args.tokens:
        b, s, vocab = parse_ints(args.tokens, "--tokens")
        x = torch.randint(1, vocab, (b, s), dtype=torch.int64)
    else:
        x = torch.from_numpy(np.load(args.input))
        if x.is_floating_point():
            x = x.float()
    if x.dim() < 2:
        raise ExportError(f"the sample input has shape {list(x.shape)}: expected (batch, seq, ...)")
    if not x.is_floating_point():
        batch_axis, seq_axis = 0, 1  # token ids are (batch, seq) in every model typeformer reads
    batch, seq = x.shape[batch_axis], x.shape[seq_axis]

    padding = None
    if args.key_lengths:
        lengths = parse_ints(args.key_lengths, "--key-lengths")
        if len(lengths) != batch or any(n < 0 or n > seq for n in lengths):
            raise ExportError(f"--key-lengths {lengths}: expected {batch} lengths in [0, {seq}]")
        padding = torch.arange(seq).unsqueeze(0) >= torch.tensor(lengths).unsqueeze(1)
        tensors["selftest.key_lengths"] = np.array(lengths, dtype=np.int64)
    causal = None
    if args.causal:
        causal = torch.triu(torch.full((seq, seq), float("-inf")), diagonal=1)
        metadata["selftest.causal"] = "true"

    memory = memory_padding = None
    if args.memory_shape:
        memory = torch.randn(*parse_ints(args.memory_shape, "--memory-shape"), dtype=torch.float32)
    elif args.memory:
        memory = torch.from_numpy(np.load(args.memory)).float()
    if memory is not None:
        if memory.dim() != 3 or memory.shape[batch_axis] != batch:
            raise ExportError(f"the memory has shape {list(memory.shape)}: expected 3 axes with "
                              f"the input's batch ({batch}) on axis {batch_axis}")
        tensors["selftest.memory"] = memory.numpy()
        memory_seq = memory.shape[seq_axis]
        if args.memory_lengths:
            lengths = parse_ints(args.memory_lengths, "--memory-lengths")
            if len(lengths) != batch or any(n < 0 or n > memory_seq for n in lengths):
                raise ExportError(f"--memory-lengths {lengths}: expected {batch} lengths in "
                                  f"[0, {memory_seq}]")
            memory_padding = torch.arange(memory_seq).unsqueeze(0) >= torch.tensor(lengths).unsqueeze(1)
            tensors["selftest.memory_key_lengths"] = np.array(lengths, dtype=np.int64)
    elif args.memory_lengths:
        raise ExportError("--memory-lengths needs a memory (--memory-shape or --memory)")

    call = args.call or default_call(module)
    # PyTorch's encoder fast path (nested tensors) pads its output back with zeros at padded
    # positions, before the final norm and whatever follows; the self-test says where it ran, so a
    # failing C++ self-test can point at tfm::zero_padded_positions.
    fast_paths, hooks = [], []
    if padding is not None:
        for path, m in module.named_modules():
            if isinstance(m, nn.TransformerEncoder) and len(m.layers):
                hooks.append(m.layers[-1].register_forward_hook(
                    lambda _m, _i, out, path=path: fast_paths.append(path or "(the module)")
                    if getattr(out, "is_nested", False) else None))
    try:
        ast.parse(call, mode="eval")
    except SyntaxError as e:
        raise ExportError(f"--call {call!r} is not a Python expression: {e.msg}")
    with torch.no_grad():
        out32 = run(module, call, x, padding, causal, memory, memory_padding)
        for h in hooks:
            h.remove()
        module64 = copy.deepcopy(module).double()
        x64 = x.double() if x.is_floating_point() else x
        out64 = run(module64, call, x64, padding, None if causal is None else causal.double(),
                    None if memory is None else memory.double(), memory_padding)
    check_module_applies_masks(module, call, args, x, padding, causal, memory, memory_padding, out32,
                               batch_axis, seq_axis)
    if out32.shape != out64.shape:
        raise ExportError(f"float32 and float64 runs give shapes {list(out32.shape)} and {list(out64.shape)}")
    ref, exact = out32.float().numpy(), out64.numpy()
    finite = np.isfinite(exact)
    if not np.array_equal(finite, np.isfinite(ref)):
        raise ExportError("the float32 and float64 runs disagree on which outputs are finite")
    error = np.abs(ref[finite].astype(np.float64) - exact[finite])
    allowed = args.atol + args.rtol * np.abs(exact[finite])
    worst = float((error / allowed).max()) if error.size else 0.0
    if worst > 0.25:
        raise ExportError(
            f"PyTorch's own float32 output is {worst:.2f} of the tolerance (atol {args.atol:g}, rtol "
            f"{args.rtol:g}) away from its float64 output; at most 0.25 leaves room for a float32 "
            "engine: pass a larger --atol / --rtol")

    tensors["selftest.input"] = x.numpy() if x.is_floating_point() else x.numpy().astype(np.int64)
    tensors["selftest.output"] = ref
    if padding is not None:
        metadata["selftest.padding_zeroed_after"] = ",".join(dict.fromkeys(fast_paths))
    config.update(call=call, batch_axis=batch_axis, float32_error_share=round(worst, 4))
    metadata.update({"selftest.atol": repr(args.atol), "selftest.rtol": repr(args.rtol),
                     "config": json.dumps(config, sort_keys=True), "seed": str(args.seed)})
    safetensors_io.write(args.out, tensors, metadata)
    back, meta = safetensors_io.read(args.out)
    assert meta == metadata and set(back) == set(tensors)
    print(f"{args.out}: {len(state)} weight tensors ({args.weights_dtype}), self-test input "
          f"{list(x.shape)} -> output {list(ref.shape)}; PyTorch float32 vs float64 uses "
          f"{worst:.1%} of the tolerance (atol {args.atol:g}, rtol {args.rtol:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
