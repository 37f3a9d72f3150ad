"""Breast-cancer diagnosis: an MLP trained on each site's own CSV files."""

import csv

import numpy as np
import torch
from torch import nn


def build_model(config):
    return nn.Sequential(
        nn.Linear(config["features"], config["hidden"]),
        nn.ReLU(),
        nn.Linear(config["hidden"], config["classes"]),
    )


def _read(path, label):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    y = np.array([int(row.pop(label)) for row in rows], dtype=np.int64)
    x = np.array([[float(v) for v in row.values()] for row in rows], dtype=np.float32)
    return x, y


def load_data(data_dir, config):
    label = config["label_column"]
    x, y = _read(data_dir / "train.csv", label)
    vx, vy = _read(data_dir / "validation.csv", label)
    mean, std = x.mean(0), x.std(0) + 1e-6  # this site's own statistics
    return ((x - mean) / std, y), ((vx - mean) / std, vy)


def train(model, train_data, config, ctx):
    x, y = (torch.from_numpy(a).to(ctx.device) for a in train_data)
    model.to(ctx.device).train()
    opt = torch.optim.SGD(model.parameters(), lr=ctx.training.lr_at(ctx.round), momentum=0.9)
    generator = torch.Generator().manual_seed(ctx.seed)
    batches = ctx.training.local_epochs * -(-len(y) // ctx.training.batch_size)
    done, total = 0, 0.0
    for _ in range(ctx.training.local_epochs):
        order = torch.randperm(len(y), generator=generator).to(ctx.device)
        for batch in order.split(ctx.training.batch_size):
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss = loss + ctx.proximal_term(model)  # zero unless the algorithm is FedProx
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            done += 1
            ctx.progress(done / batches)
    ctx.logger.info("round %d: mean loss %.4f over %d batches", ctx.round, total / done, done)
    return {"train_loss": total / done}


def label_histogram(train_data, config):
    labels, counts = np.unique(train_data[1], return_counts=True)
    return {str(label): int(count) for label, count in zip(labels, counts, strict=True)}
