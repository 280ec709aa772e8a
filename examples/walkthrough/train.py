"""Stands for the training run: writes checkpoint.pt as torch.save(model.state_dict()) does."""
import torch

from my_model import TokenTagger

torch.manual_seed(2026)
model = TokenTagger()
with torch.no_grad():  # move biases and norms off PyTorch's zeros and ones, as training would
    for p in model.parameters():
        p.add_(0.05 * torch.randn_like(p))
torch.save(model.state_dict(), "checkpoint.pt")
