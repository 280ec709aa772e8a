"""The PyTorch modules behind the examples, as factories for tools/export_torch.py.

    /usr/bin/python3 tools/export_torch.py examples/pytorch_modules.py:encoder_6x512 \
        --input-shape 4,40,512 --key-lengths 40,33,17,1 --atol 2e-4 --rtol 2e-3 \
        --out examples/data/generated/encoder_6x512.safetensors

A real project's factory would build its module and load its checkpoint; these draw seeded
random weights instead, with biases and norm parameters moved away from PyTorch's zero / one
initialisation so that a mixed-up tensor name changes the output.
"""
import torch
from torch import nn


def _randomise(module: nn.Module, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.Linear):
            m.reset_parameters()
        elif isinstance(m, nn.MultiheadAttention):
            m._reset_parameters()
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.copy_((torch.rand_like(p) * 2 - 1) * 0.1)
            elif "norm" in name:
                p.copy_(1.0 + (torch.rand_like(p) * 2 - 1) * 0.1)
    return module.eval()


def encoder_6x512() -> nn.Module:
    """examples/transformer_encoder.cpp: 6 post-norm layers, d_model 512, 8 heads, a final norm."""
    layer = nn.TransformerEncoderLayer(512, 8, 2048, dropout=0.0, batch_first=True)
    return _randomise(nn.TransformerEncoder(layer, 6, norm=nn.LayerNorm(512)), 1706)


def small_encoder() -> nn.Module:
    """The PyTorch round trip in CI (tests/export): 2 layers, d_model 32, 4 heads, gelu, a final norm."""
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, activation="gelu", batch_first=True)
    return _randomise(nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(32)), 8)


def small_decoder() -> nn.Module:
    """The decoder round trip in CI (tests/export): 2 post-norm layers, d_model 32, 4 heads, a final norm."""
    layer = nn.TransformerDecoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    return _randomise(nn.TransformerDecoder(layer, 2, norm=nn.LayerNorm(32)), 9)


def aiayn_mha() -> nn.Module:
    """examples/attention_is_all_you_need.cpp: nn.MultiheadAttention(512, 8), batch first."""
    return _randomise(nn.MultiheadAttention(512, 8, batch_first=True), 2017)


class CausalTokenModel(nn.Module):
    """A small causal language model: embedding, 2 pre-norm encoder layers, a vocabulary head."""

    def __init__(self, vocab: int = 50, d_model: int = 32, heads: int = 4):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout=0.0,
                                           norm_first=True, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n = ids.shape[1]
        causal = torch.triu(torch.full((n, n), float("-inf"), dtype=self.head.weight.dtype), 1)
        return self.head(self.encoder(self.embed(ids), mask=causal))


def causal_token_model() -> nn.Module:
    """The PyTorch round trip of a custom module (tests/export): ids in, logits out."""
    return _randomise(CausalTokenModel(), 31)


class EncoderWithHead(nn.Module):
    """A custom module as users write them: an encoder, then a Linear head, the padding mask passed
    by keyword. With padding, the encoder's fast path zeroes the padded positions, which the head
    then maps to its bias."""

    def __init__(self, d_model: int = 32, heads: int = 4, classes: int = 8):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(d_model, classes)

    def forward(self, x: torch.Tensor, src_key_padding_mask=None, mask=None) -> torch.Tensor:
        return self.head(self.encoder(x, mask=mask, src_key_padding_mask=src_key_padding_mask))


def encoder_with_head() -> nn.Module:
    """The custom-module round trip in CI (tests/export): its default call `module(x)` would drop
    the padding mask, so the exporter needs --call "module(x, src_key_padding_mask=padding)"."""
    return _randomise(EncoderWithHead(), 44)


class PooledClassifier(nn.Module):
    """An encoder whose outputs are averaged over positions, then classified: one vector per
    sequence, so the exporter checks its masks by name (tests/export)."""

    def __init__(self, d_model: int = 16, heads: int = 2, classes: int = 3):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1)
        self.head = nn.Linear(d_model, classes)

    def forward(self, x: torch.Tensor, src_key_padding_mask=None) -> torch.Tensor:
        return self.head(self.encoder(x, src_key_padding_mask=src_key_padding_mask).mean(1))


def pooled_classifier() -> nn.Module:
    return _randomise(PooledClassifier(), 45)
