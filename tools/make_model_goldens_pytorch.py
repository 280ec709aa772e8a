#!/usr/bin/python3
"""Writes tests/data/model/pytorch_encoder_*.safetensors: reference outputs of PyTorch 1.13's
nn.TransformerEncoderLayer and nn.TransformerEncoder (batch_first=True, eval mode).

Run with Debian's interpreter (it has torch 1.13):
    /usr/bin/python3 tools/make_model_goldens_pytorch.py [--out tests/data/model]

Each file holds the module's state_dict under its own names, `golden.input` (B, L, d),
`golden.key_lengths` (B,) int64 when a padding mask is used (PyTorch's key_padding_mask is True
beyond each length), `golden.output`, and a JSON config in the metadata.

References are computed in float64 on PyTorch's general path (gradients enabled), except the
`fast_path` case, which records what PyTorch 1.13's encoder stack gives on its inference fast
path (float32, no_grad, nested tensors): padded positions come out as zeros, then pass through
the final norm, so they equal norm.bias.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

D, HEADS, FF, B, L = 36, 4, 52, 3, 7
LENGTHS = [7, 5, 2]


def randomise(module, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.split(".")[-2].startswith("norm") and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * 0.25)


def padding_mask(lengths):
    positions = torch.arange(L).unsqueeze(0)
    return positions >= torch.tensor(lengths).unsqueeze(1)  # True = masked (padding)


def encoder_layer(norm_first, activation, eps):
    return nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, activation=activation,
                                      layer_norm_eps=eps, batch_first=True, norm_first=norm_first)


def write(out_dir, name, module, x, y, lengths, config):
    tensors = {k: v.detach().float().numpy() for k, v in module.state_dict().items()}
    tensors["golden.input"] = x.float().numpy()
    tensors["golden.output"] = y.float().numpy()
    if lengths is not None:
        tensors["golden.key_lengths"] = torch.tensor(lengths, dtype=torch.int64).numpy()
    config = dict(config, framework="pytorch", d_model=D, heads=HEADS, dim_feedforward=FF)
    safetensors_io.write(os.path.join(out_dir, name + ".safetensors"), tensors,
                         {"config": json.dumps(config, sort_keys=True), "torch_version": torch.__version__})


def general_path(module, x, lengths=None, causal=False):
    """float64 on the general (non-fast) path: gradients stay enabled."""
    m64 = module.double().eval()
    kwargs = {}
    if lengths is not None:
        kwargs["src_key_padding_mask"] = padding_mask(lengths)
    if causal:
        kwargs["mask" if isinstance(module, nn.TransformerEncoder) else "src_mask"] = torch.triu(torch.full((L, L), float("-inf"), dtype=torch.float64), 1)
    with torch.enable_grad():
        y = m64(x.double(), **kwargs)
    module.float()
    return y.detach()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "model"))
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)

    cases = [
        ("pytorch_encoder_layer_post_relu", False, "relu", 1e-5, True, False, 11),
        ("pytorch_encoder_layer_pre_gelu_eps1e-6", True, "gelu", 1e-6, True, False, 12),
        ("pytorch_encoder_layer_post_relu_causal", False, "relu", 1e-5, False, True, 13),
    ]
    for name, norm_first, act, eps, padded, causal, seed in cases:
        layer = encoder_layer(norm_first, act, eps)
        randomise(layer, seed)
        x = torch.randn(B, L, D)
        lengths = LENGTHS if padded else None
        y = general_path(layer, x, lengths, causal)
        write(out, name, layer, x, y, lengths,
              {"norm_first": norm_first, "activation": act, "layer_norm_eps": eps, "causal": causal,
               "atol": 2e-5, "rtol": 1e-4,
               "description": f"nn.TransformerEncoderLayer(norm_first={norm_first}, activation={act}, "
                              f"layer_norm_eps={eps}), padding={padded}, causal src_mask={causal}, float64"})

    # A 3-layer stack with a final norm, on the general path: padded positions hold real values.
    stack = nn.TransformerEncoder(encoder_layer(False, "relu", 1e-5), 3, norm=nn.LayerNorm(D),
                                  enable_nested_tensor=True)
    randomise(stack, 21)
    x = torch.randn(B, L, D)
    y = general_path(stack, x, LENGTHS)
    write(out, "pytorch_encoder_stack_general_path", stack, x, y, LENGTHS,
          {"layers": 3, "final_norm": True, "atol": 5e-5, "rtol": 2e-4,
           "description": "nn.TransformerEncoder(3 post-norm relu layers, norm=LayerNorm), padding, "
                          "general path (gradients enabled), float64"})

    # The same stack on 1.13's inference fast path: padded rows are zeroed before the final norm.
    stack.eval()
    with torch.no_grad():
        y_fast = stack(x, src_key_padding_mask=padding_mask(LENGTHS))
    bias = stack.norm.bias.detach()
    for b, n in enumerate(LENGTHS):
        assert torch.allclose(y_fast[b, n:], bias.expand(L - n, D), atol=1e-6), "fast path did not zero"
        assert torch.allclose(y_fast[b, :n], y[b, :n].float(), atol=1e-4), "fast path differs on real rows"
    write(out, "pytorch_encoder_stack_fast_path", stack, x, y_fast, LENGTHS,
          {"layers": 3, "final_norm": True, "atol": 1e-4, "rtol": 5e-4,
           "description": "the same stack under no_grad (PyTorch 1.13's fast path with nested tensors): "
                          "padded positions equal norm.bias; float32 reference"})
    decoder_cases(out)
    branch_cases(out)
    token_model_cases(out)
    self_test_cases(out)


MEMORY_SEQ = 6
MEMORY_LENGTHS = [6, 3, 1]


def decoder_cases(out):
    """nn.TransformerDecoderLayer / nn.TransformerDecoder: a causal tgt_mask, target padding and
    memory padding, float64 on the general path."""
    causal = torch.triu(torch.full((L, L), float("-inf"), dtype=torch.float64), 1)
    tgt_padding = padding_mask(LENGTHS)
    memory_padding = torch.arange(MEMORY_SEQ).unsqueeze(0) >= torch.tensor(MEMORY_LENGTHS).unsqueeze(1)

    def run(module, name, seed, config):
        randomise(module, seed)
        x = torch.randn(B, L, D)
        memory = torch.randn(B, MEMORY_SEQ, D)
        m64 = module.double().eval()
        with torch.enable_grad():
            y = m64(x.double(), memory.double(), tgt_mask=causal, tgt_key_padding_mask=tgt_padding,
                    memory_key_padding_mask=memory_padding).detach()
        module.float()
        tensors = {k: v.detach().float().numpy() for k, v in module.state_dict().items()}
        tensors["golden.input"] = x.numpy()
        tensors["golden.memory"] = memory.numpy()
        tensors["golden.key_lengths"] = torch.tensor(LENGTHS, dtype=torch.int64).numpy()
        tensors["golden.memory_lengths"] = torch.tensor(MEMORY_LENGTHS, dtype=torch.int64).numpy()
        tensors["golden.output"] = y.float().numpy()
        config = dict(config, framework="pytorch", d_model=D, heads=HEADS, dim_feedforward=FF,
                      causal=True, memory_seq=MEMORY_SEQ)
        safetensors_io.write(os.path.join(out, name + ".safetensors"), tensors,
                             {"config": json.dumps(config, sort_keys=True), "torch_version": torch.__version__})

    def layer(norm_first, act, eps):
        return nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, activation=act, layer_norm_eps=eps,
                                          batch_first=True, norm_first=norm_first)

    run(layer(False, "relu", 1e-5), "pytorch_decoder_layer_post_relu", 31,
        {"norm_first": False, "activation": "relu", "layer_norm_eps": 1e-5, "atol": 2e-5, "rtol": 1e-4,
         "description": "nn.TransformerDecoderLayer, post-norm, relu, causal tgt_mask, target and memory padding"})
    run(layer(True, "gelu", 1e-6), "pytorch_decoder_layer_pre_gelu_eps1e-6", 32,
        {"norm_first": True, "activation": "gelu", "layer_norm_eps": 1e-6, "atol": 2e-5, "rtol": 1e-4,
         "description": "nn.TransformerDecoderLayer(norm_first=True, gelu, eps 1e-6), same masks"})
    run(nn.TransformerDecoder(layer(False, "relu", 1e-5), 2, norm=nn.LayerNorm(D)),
        "pytorch_decoder_stack", 33,
        {"layers": 2, "final_norm": True, "atol": 5e-5, "rtol": 2e-4,
         "description": "nn.TransformerDecoder(2 post-norm relu layers, norm=LayerNorm), same masks"})


def branch_cases(out):
    """Branches merged back: norm_c(cat([self_attn(x), norm_b(x)], -1)) and self_attn(x) + norm_b(x)."""
    class Branches(nn.Module):
        def __init__(self, merge):
            super().__init__()
            self.merge = merge
            self.self_attn = nn.MultiheadAttention(D, HEADS, batch_first=True)
            self.norm_b = nn.LayerNorm(D)
            self.norm_c = nn.LayerNorm(2 * D if merge == "concatenate" else D)

        def forward(self, x):
            a = self.self_attn(x, x, x, need_weights=False)[0]
            b = self.norm_b(x)
            return self.norm_c(torch.cat([a, b], -1) if self.merge == "concatenate" else a + b)

    for merge, seed in (("concatenate", 41), ("add", 42)):
        module = Branches(merge)
        randomise(module, seed)
        with torch.no_grad():
            for name, p in module.named_parameters():
                if name.startswith("norm") and name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn_like(p))
        x = torch.randn(B, L, D)
        y = general_path(module, x)
        write(out, "pytorch_branches_" + merge, module, x, y, None,
              {"merge": merge, "atol": 2e-5, "rtol": 1e-4,
               "description": f"LayerNorm over {merge} of self-attention and a LayerNorm branch, float64"})


VOCAB = 23


def token_model_cases(out):
    """A causal language model over tokens, as PyTorch's "Language Modeling with nn.Transformer"
    tutorial builds one: Embedding scaled by sqrt(d), the tutorial's sinusoidal PositionalEncoding,
    two encoder layers under a causal mask, then Linear(d, vocab) and softmax. float64."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from make_layer_goldens_pytorch import tutorial_positional_encoding

    class TokenModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, D)
            self.layers = nn.ModuleList([encoder_layer(False, "relu", 1e-5) for _ in range(2)])
            self.out = nn.Linear(D, VOCAB)

        def forward(self, ids, mask):
            x = self.embed(ids) * math.sqrt(D)
            x = x + tutorial_positional_encoding(D, ids.shape[1]).to(x.dtype)
            for layer in self.layers:
                x = layer(x, src_mask=mask)
            return torch.softmax(self.out(x), dim=-1)

    module = TokenModel()
    randomise(module, 51)
    torch.manual_seed(52)
    ids = torch.randint(0, VOCAB, (B, L))
    ids[0, 0], ids[1, 1] = 0, VOCAB - 1
    causal = torch.triu(torch.full((L, L), float("-inf"), dtype=torch.float64), 1)
    m64 = module.double().eval()
    with torch.enable_grad():
        y = m64(ids, causal).detach()
    module.float()
    tensors = {k: v.detach().float().numpy() for k, v in module.state_dict().items()}
    tensors["golden.ids"] = ids.numpy().astype("int32")
    tensors["golden.output"] = y.float().numpy()
    config = {"framework": "pytorch", "d_model": D, "heads": HEADS, "dim_feedforward": FF, "vocabulary": VOCAB,
              "layers": 2, "causal": True, "atol": 2e-6, "rtol": 1e-4,
              "description": "Embedding*sqrt(d) + tutorial PositionalEncoding + 2 causal post-norm encoder layers + "
                             "Linear + softmax, float64 general path"}
    safetensors_io.write(os.path.join(out, "pytorch_token_language_model.safetensors"), tensors,
                         {"config": json.dumps(config, sort_keys=True), "torch_version": torch.__version__})

    # The same model and sample in the self-test layout that load_weights(..., verify::on) checks.
    weights = {k: v.detach().float().numpy() for k, v in module.state_dict().items()}
    write_self_test(out, "pytorch_token_language_model_selftest", weights, ids.numpy().astype("int32"),
                    y.float().numpy(), None, causal=True, atol=2e-6, rtol=1e-4)


def write_self_test(out_dir, name, weights, x, y, lengths, causal, atol, rtol):
    """A weight file with an embedded self-test: selftest.input, selftest.output, optional
    selftest.key_lengths, and the tolerance (and causal flag) in the metadata."""
    tensors = dict(weights)
    tensors["selftest.input"] = x
    tensors["selftest.output"] = y
    metadata = {"selftest.atol": repr(atol), "selftest.rtol": repr(rtol),
                "generator": "tools/make_model_goldens_pytorch.py", "torch_version": torch.__version__}
    if lengths is not None:
        tensors["selftest.key_lengths"] = torch.tensor(lengths, dtype=torch.int64).numpy()
    if causal:
        metadata["selftest.causal"] = "true"
    safetensors_io.write(os.path.join(out_dir, name + ".safetensors"), tensors, metadata)


def self_test_cases(out):
    """nn.TransformerEncoder (3 post-norm layers, final norm) with a padded sample, float64 general
    path, stored as a self-test."""
    stack = nn.TransformerEncoder(encoder_layer(False, "relu", 1e-5), 3, norm=nn.LayerNorm(D),
                                  enable_nested_tensor=False)
    randomise(stack, 61)
    torch.manual_seed(62)
    x = torch.randn(B, L, D)
    y = general_path(stack, x, LENGTHS)
    weights = {k: v.detach().float().numpy() for k, v in stack.state_dict().items()}
    write_self_test(out, "pytorch_encoder_stack_selftest", weights, x.float().numpy(), y.float().numpy(),
                    LENGTHS, causal=False, atol=5e-5, rtol=2e-4)


if __name__ == "__main__":
    main()
