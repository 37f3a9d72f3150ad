"""FedGKT's two models: the edge's small CNN, split into a feature extractor and a head, and
the server's larger network over those features. Both built from the dataset's shape, so
edges and server agree on the feature size without a word."""

from __future__ import annotations

import torch
from torch import nn


class EdgeNet(nn.Module):
    """Two small convolutions and a linear head: what an edge trains and keeps."""

    def __init__(self, input_shape: tuple[int, ...], classes: int) -> None:
        super().__init__()
        conv, pool = (
            (nn.Conv2d, nn.MaxPool2d) if len(input_shape) == 3 else (nn.Conv1d, nn.MaxPool1d)
        )
        self.extractor = nn.Sequential(
            conv(input_shape[0], 8, 3, padding=1),
            nn.ReLU(),
            conv(8, 16, 3, padding=1),
            nn.ReLU(),
            pool(2),
            nn.Flatten(),
        )
        with torch.no_grad():
            self.features = int(self.extractor(torch.zeros(1, *input_shape)).shape[1])
        self.head = nn.Linear(self.features, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.extractor(x))


def server_net(features: int, hidden: list[int], classes: int) -> nn.Module:
    """The server's model over the edges' features: `hidden` layers (the config's
    model.hidden), each with batch normalisation, then the classes."""
    layers: list[nn.Module] = []
    width = features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


def input_shape_of(x_shape: tuple[int, ...]) -> tuple[int, ...]:
    """A sample's shape as the CNN reads it: images (c, h, w), sequences (c, length); a flat
    vector is a sequence of one channel."""
    shape = tuple(x_shape)
    return (1, shape[0]) if len(shape) == 1 else shape
