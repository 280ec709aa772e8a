"""Runs the trained PyTorch module on the input the C++ program used and compares the outputs
(docs/guide/7-walkthrough.md). Reads safetensors with typeformer's tools/safetensors_io.py.

    /usr/bin/python3 compare.py OUTPUT.safetensors
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.environ.get("TYPEFORMER", "../.."), "tools"))
import safetensors_io  # noqa: E402

from my_model import trained  # noqa: E402

tensors, _ = safetensors_io.read(sys.argv[1])
x = torch.from_numpy(tensors["input"])
lengths = torch.from_numpy(tensors["lengths"])
padding = torch.arange(x.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)
with torch.no_grad():
    expected = trained()(x, src_key_padding_mask=padding).numpy()
difference = float(np.abs(expected - tensors["output"]).max())
print(f"C++ against PyTorch: max |difference| {difference:.2e} over {expected.size} values")
sys.exit(0 if difference <= 1e-4 else 1)
