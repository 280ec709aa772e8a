#!/usr/bin/python3
"""Trains and exports a small PyTorch translation model for examples/translation.cpp.

    /usr/bin/python3 tools/export_translation_pytorch.py [--out examples/data/generated/translation.safetensors]

The model is the Seq2SeqTransformer of PyTorch's "Language Translation with nn.Transformer"
tutorial, batch-first: token embeddings scaled by sqrt(d_model) (`src_tok_emb.embedding`,
`tgt_tok_emb.embedding`), the tutorial's sinusoidal PositionalEncoding, nn.Transformer
(`transformer.encoder.*`, `transformer.decoder.*`, each with a final LayerNorm) and a Linear
`generator` onto the target vocabulary. d_model 64, 4 heads, feed-forward 128, 2 + 2 layers.

The "language pair" is a toy one that a CPU learns in about a minute: the target is the source's
digits in reverse order (vocabulary: 0 pad, 1 begin, 2 end, 3..12 the digits 0..9). The file holds
the state_dict under the tutorial's names and a self-test: selftest.source (B, S) int32 padded
with 0, selftest.source_lengths (B,), and what greedy decoding gives in PyTorch:
selftest.tokens (B, T) (begin token first, padded with 0 after the end token) and
selftest.logits (B, T - 1, vocab), the generator's output at each step. The reference decoding
runs in float64 on PyTorch's general path (gradients enabled), recomputing the whole prefix at each
step as the tutorial's greedy_decode does.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from make_layer_goldens_pytorch import tutorial_positional_encoding  # noqa: E402

PAD, BOS, EOS, DIGITS = 0, 1, 2, 3
VOCAB = DIGITS + 10
D, HEADS, FF, LAYERS = 64, 4, 128, 2
MIN_LEN, MAX_LEN = 3, 12
MAX_TARGET = MAX_LEN + 2
ATOL, RTOL = 1e-3, 1e-3


class TokenEmbedding(nn.Module):
    def __init__(self, vocab, d):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d)
        self.d = d

    def forward(self, tokens):
        return self.embedding(tokens.long()) * math.sqrt(self.d)


class Seq2SeqTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer = nn.Transformer(D, HEADS, LAYERS, LAYERS, FF, dropout=0.0, batch_first=True)
        self.generator = nn.Linear(D, VOCAB)
        self.src_tok_emb = TokenEmbedding(VOCAB, D)
        self.tgt_tok_emb = TokenEmbedding(VOCAB, D)

    def positions(self, x):
        return x + tutorial_positional_encoding(D, x.shape[1]).to(x.dtype)

    def encode(self, src, src_padding):
        return self.transformer.encoder(self.positions(self.src_tok_emb(src)),
                                        src_key_padding_mask=src_padding)

    def decode(self, tgt, memory, memory_padding):
        causal = torch.triu(torch.full((tgt.shape[1], tgt.shape[1]), float("-inf"), dtype=memory.dtype), 1)
        return self.transformer.decoder(self.positions(self.tgt_tok_emb(tgt)), memory, tgt_mask=causal,
                                        memory_key_padding_mask=memory_padding)

    def forward(self, src, tgt, src_padding, tgt_padding):
        memory = self.encode(src, src_padding)
        causal = torch.triu(torch.full((tgt.shape[1], tgt.shape[1]), float("-inf")), 1)
        out = self.transformer.decoder(self.positions(self.tgt_tok_emb(tgt)), memory, tgt_mask=causal,
                                       tgt_key_padding_mask=tgt_padding, memory_key_padding_mask=src_padding)
        return self.generator(out)


def batch_of(rng, n):
    lengths = rng.integers(MIN_LEN, MAX_LEN + 1, size=n)
    src = np.zeros((n, MAX_LEN), dtype=np.int64)
    tgt = np.zeros((n, MAX_TARGET), dtype=np.int64)
    for i, length in enumerate(lengths):
        digits = rng.integers(0, 10, size=length) + DIGITS
        src[i, :length] = digits
        tgt[i, 0] = BOS
        tgt[i, 1:length + 1] = digits[::-1]
        tgt[i, length + 1] = EOS
    return torch.from_numpy(src), torch.from_numpy(tgt), torch.from_numpy(lengths)


def greedy_decode(model, src, lengths):
    """The tutorial's greedy_decode, batched: recompute the prefix, take the argmax, stop at EOS."""
    padding = torch.arange(src.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)
    memory = model.encode(src, padding)
    tokens = torch.full((src.shape[0], 1), BOS, dtype=torch.int64)
    logits = []
    done = torch.zeros(src.shape[0], dtype=torch.bool)
    for _ in range(MAX_TARGET - 1):
        step = model.generator(model.decode(tokens, memory, padding)[:, -1])
        logits.append(step)
        nxt = step.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        tokens = torch.cat([tokens, nxt.unsqueeze(1)], 1)
        done |= nxt == EOS
        if bool(done.all()):
            break
    return tokens, torch.stack(logits, 1)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "examples", "data", "generated",
                                                  "translation.safetensors"))
    ap.add_argument("--steps", type=int, default=1500)
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    torch.manual_seed(2017)
    torch.set_num_threads(2)
    rng = np.random.default_rng(2017)

    model = Seq2SeqTransformer()
    for p in model.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, betas=(0.9, 0.98), eps=1e-9)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)
    start = time.time()
    model.train()
    for step in range(args.steps):
        src, tgt, lengths = batch_of(rng, 64)
        src_padding = src == PAD
        tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
        logits = model(src, tgt_in, src_padding, tgt_in == PAD)
        loss = loss_fn(logits.reshape(-1, VOCAB), tgt_out.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step}: loss {loss.item():.4f} ({time.time() - start:.0f} s)", flush=True)
    model.eval()

    # Held-out accuracy, float32, to report how well the toy task was learned.
    src, tgt, lengths = batch_of(np.random.default_rng(7), 256)
    with torch.no_grad():
        tokens, _ = greedy_decode(model, src, lengths)
    correct = sum(bool(torch.equal(tokens[i, :int(lengths[i]) + 2], tgt[i, :int(lengths[i]) + 2]))
                  for i in range(256))
    print(f"greedy decoding reverses {correct}/256 held-out sources exactly")

    # The self-test: a few sources of different lengths, decoded in float64 on the general path.
    src, _, lengths = batch_of(np.random.default_rng(11), 4)
    lengths[3] = MIN_LEN
    src[3, MIN_LEN:] = PAD
    model64 = Seq2SeqTransformer()
    model64.load_state_dict(model.state_dict())
    model64 = model64.double().eval()
    with torch.enable_grad():
        tokens, logits = greedy_decode(model64, src, lengths)
    tensors = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    tensors["selftest.source"] = src.numpy().astype(np.int32)
    tensors["selftest.source_lengths"] = lengths.numpy().astype(np.int32)
    tensors["selftest.tokens"] = tokens.numpy().astype(np.int32)
    tensors["selftest.logits"] = logits.detach().float().numpy()
    config = {"framework": "pytorch", "d_model": D, "heads": HEADS, "dim_feedforward": FF, "layers": LAYERS,
              "vocabulary": VOCAB, "pad": PAD, "begin": BOS, "end": EOS, "first_digit": DIGITS,
              "atol": ATOL, "rtol": RTOL, "heldout_exact": correct, "training_steps": args.steps,
              "description": "Seq2SeqTransformer of PyTorch's translation tutorial (batch_first) trained to reverse "
                             "digit sequences; self-test = float64 greedy decoding of selftest.source"}
    safetensors_io.write(out, tensors, {"config": json.dumps(config, sort_keys=True),
                                        "torch_version": torch.__version__,
                                        "generator": "tools/export_translation_pytorch.py",
                                        **safetensors_io.self_test_metadata(tensors, config)})
    print(f"wrote {out}: tokens\n{tokens.numpy()}")


if __name__ == "__main__":
    main()
