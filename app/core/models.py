"""Torch models built from a config, and conversion to/from named numpy arrays (the wire)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from app.core.fl_config import ModelSpec


def build_model(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    features = math.prod(input_shape)
    if spec.kind == "logreg":
        return nn.Sequential(nn.Flatten(), nn.Linear(features, num_classes))
    if spec.kind == "mlp":
        layers: list[nn.Module] = [nn.Flatten()]
        width = features
        for hidden in spec.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            if spec.dropout:
                layers.append(nn.Dropout(spec.dropout))
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        return nn.Sequential(*layers)
    # cnn: 2-D for images (c, h, w), 1-D for sequences (c, length)
    conv, pool = (nn.Conv2d, nn.MaxPool2d) if len(input_shape) == 3 else (nn.Conv1d, nn.MaxPool1d)
    channels = input_shape[0]
    body = nn.Sequential(
        conv(channels, 16, 3, padding=1),
        nn.ReLU(),
        pool(2),
        conv(16, 32, 3, padding=1),
        nn.ReLU(),
        pool(2),
        nn.Flatten(),
    )
    with torch.no_grad():
        flat = body(torch.zeros(1, *input_shape)).shape[1]
    return nn.Sequential(
        body, nn.Linear(flat, spec.hidden[0]), nn.ReLU(), nn.Linear(spec.hidden[0], num_classes)
    )


def get_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """A copy of the model's weights as arrays: one copy (off a GPU, `cpu()` is that copy)."""
    out = {}
    for name, tensor in model.state_dict().items():
        host = tensor.detach().cpu().numpy()
        out[name] = host.copy() if tensor.device.type == "cpu" else host
    return out


def set_weights(model: nn.Module, weights: dict[str, np.ndarray]) -> None:
    expected = model.state_dict()
    if set(weights) != set(expected):
        missing, extra = set(expected) - set(weights), set(weights) - set(expected)
        raise ValueError(
            f"weights do not fit the model: missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    for name, tensor in expected.items():
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise ValueError(
                f"weight {name!r} has shape {weights[name].shape}, "
                f"the model needs {tuple(tensor.shape)}"
            )
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
