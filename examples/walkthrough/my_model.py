"""The walkthrough's PyTorch side (docs/guide/7-walkthrough.md): a token tagger -- a transformer
encoder and a per-position Linear head -- as a project would define it, and the factory that
tools/export_torch.py calls: it builds the module and loads the trained checkpoint."""
import torch
from torch import nn


class TokenTagger(nn.Module):
    def __init__(self, d_model: int = 64, heads: int = 4, tags: int = 10):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout=0.1,
                                           activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(d_model, tags)

    def forward(self, x: torch.Tensor, src_key_padding_mask=None) -> torch.Tensor:
        return self.head(self.encoder(x, src_key_padding_mask=src_key_padding_mask))


def trained() -> nn.Module:
    """The module with its trained weights, in inference mode."""
    model = TokenTagger()
    model.load_state_dict(torch.load("checkpoint.pt"))
    return model.eval()
