"""A user's own model, dataset and regularizer, registered through ablate's public API.

ablate imports this file because study.yaml lists it under `plugins:` (so `ablate run`, its worker processes
and `ablate worker` on another machine all load it). Nothing here is part of ablate itself.

Run it as a script to (re)write the small image folder the study trains on:
    python examples/own_model/plugin.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pydantic import Field
from torch import nn

import ablate
from ablate.regularizers import Context, Params, Regularizer

CLASSES = ("circle", "square", "triangle")


# ------------------------------------------------------------------ a model: a plain builder function
@ablate.register_model(tiny={"model": {"name": "small_resnet", "width": 4},
                             "data": {"name": "shapes", "per_class": 12, "size": 12, "batch_size": 16}})
def small_resnet(spec, *, dropout: float = 0.0, width: int = 16, blocks: int = 2) -> nn.Module:
    """A small residual CNN (any image size and channel count); `dropout` is its one regularizer knob."""
    return SmallResNet(spec.in_channels, spec.num_classes, width, blocks, dropout)


class Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


class SmallResNet(nn.Module):
    def __init__(self, channels: int, classes: int, width: int, blocks: int, dropout: float):
        super().__init__()
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        self.blocks = nn.Sequential(*[Block(width) for _ in range(blocks)])
        self.drop = nn.Dropout(dropout)  # p=0 is the identity: the layer names are the same in every arm
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        x = self.blocks(torch.relu(self.stem(x)))
        return self.head(self.drop(x.mean(dim=(2, 3))))


# ------------------------------------------------------------------ a dataset: a loader function
def draw_shapes(per_class: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Filled circles, squares and triangles of random size, place and brightness: uint8 (N, size, size)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    images, labels = [], []
    for label, shape in enumerate(CLASSES):
        for _ in range(per_class):
            r = rng.uniform(0.2, 0.4) * size
            cy, cx = rng.uniform(r, size - r, 2)
            if shape == "circle":
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            elif shape == "square":
                mask = (abs(yy - cy) <= r * 0.8) & (abs(xx - cx) <= r * 0.8)
            else:
                mask = (yy >= cy - r) & (yy <= cy + r) & (abs(xx - cx) <= (yy - (cy - r)) / 2)
            images.append(np.where(mask, rng.integers(150, 256), rng.integers(0, 60)).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels)


@ablate.register_dataset
def shapes(*, per_class: int = 60, size: int = 16, seed: int = 0):
    """Generated circles, squares and triangles, in memory (no files)."""
    x_train, y_train = draw_shapes(per_class, size, seed)
    x_test, y_test = draw_shapes(max(per_class // 3, 2), size, seed + 1)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test, "class_names": CLASSES}


# ------------------------------------------------------------------ a regularizer: one class, its hooks
class GradNoiseParams(Params):
    eta: float = Field(0.01, gt=0.0, le=10.0, description="noise variance at step 0")
    gamma: float = Field(0.55, ge=0.0, le=2.0, description="decay: variance eta / (1 + step)^gamma")


@ablate.register_regularizer
class GradNoise(Regularizer):
    """Gaussian noise added to every gradient, annealed over steps (Neelakantan et al. 2015)."""

    name = "grad_noise"
    Params = GradNoiseParams
    changes = frozenset({"weights"})  # what "on" changes; the contract tests check exactly this
    example = {"eta": 0.01}  # valid settings, for the contract tests and docs
    # applies_to stays None: it needs no model knob, so it applies to every model

    def after_backward(self, ctx: Context) -> None:
        std = (self.params.eta / (1 + ctx.step) ** self.params.gamma) ** 0.5
        for p in ctx.model.parameters():
            if p.grad is not None:  # drawn from the cell's generator: the same noise in every run of a seed
                noise = torch.randn(p.grad.shape, generator=ctx.gen, device=ctx.gen.device)
                p.grad.add_(noise.to(p.grad.device, p.grad.dtype), alpha=std)


def write_image_folder(folder: Path, per_class: int = 30, size: int = 16, seed: int = 0) -> None:
    """The image folder study.yaml reads: <class>/<index>.png, deterministic (the same bytes every time)."""
    from PIL import Image

    images, labels = draw_shapes(per_class, size, seed)
    for i, (image, label) in enumerate(zip(images, labels)):
        path = folder / CLASSES[label] / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, optimize=True)


if __name__ == "__main__":
    write_image_folder(Path(__file__).parent / "images")
    print(f"wrote {Path(__file__).parent / 'images'}")
