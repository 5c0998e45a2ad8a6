"""Loading torch weights without unpickling code.

`torch.load` unpickles arbitrary objects unless `weights_only=True` (the default only
from torch 2.6; the package allows torch >= 2.1), and thinc's PyTorchWrapper loads
with the default. Every torch module of a saved pipeline is loaded through here.
"""
import io
from typing import Any, Dict

import torch


def load_state(data: bytes, device: Any = "cpu") -> Dict[str, torch.Tensor]:
    """A state dict saved with `torch.save`, read with `weights_only=True`."""
    return torch.load(io.BytesIO(data), map_location=device, weights_only=True)


def deserialize_weights_only(module: torch.nn.Module, data: bytes, device: Any) -> torch.nn.Module:
    """`deserialize_model` for PyTorchWrapper_v3: thinc's default, but weights only."""
    module.load_state_dict(load_state(data, device))
    return module.to(device)
