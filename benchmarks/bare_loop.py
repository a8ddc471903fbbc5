"""The yardstick: a bare PyTorch training loop with no ablate imports (same CNN, data, batch, precision).

Each epoch trains on a seeded permutation of in-memory uint8 tensors and then evaluates on val, which is
what any hand-written loop does; the framework's epoch must cost no more than this (figure a).
"""
import time

import torch
import torch.nn.functional as F
from torch import nn


def cnn(c: int, hw: tuple[int, int], classes: int, width: int) -> nn.Module:
    flat = 2 * width * (hw[0] // 2) * (hw[1] // 2)
    return nn.Sequential(nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(flat, 8 * width), nn.ReLU(inplace=True), nn.Linear(8 * width, classes))


def train(xt, yt, xv, yv, mean, std, width=64, batch=128, epochs=1, lr=1e-3, bf16=False, channels_last=True,
          device="cpu", seed=0, eval_batch=1024) -> list[float]:
    """Returns each epoch's seconds; x* uint8 NCHW, mean/std per channel on the 0-1 scale."""
    torch.manual_seed(seed)
    dev = torch.device(device)
    xt, yt, xv, yv = (t.to(dev) for t in (xt, yt, xv, yv))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    scale, shift = (1 / (255 * std)).to(dev).view(1, -1, 1, 1), (mean / std).to(dev).view(1, -1, 1, 1)
    prep = lambda x: (x.float() * scale - shift).contiguous(memory_format=fmt)  # noqa: E731
    model = cnn(xt.shape[1], tuple(xt.shape[2:]), int(yt.max()) + 1, width).to(dev, memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    amp = lambda: torch.autocast(dev.type, torch.bfloat16, enabled=bf16)  # noqa: E731
    gen, seconds = torch.Generator(device=dev).manual_seed(seed), []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        for idx in torch.randperm(len(yt), generator=gen, device=dev).split(batch):
            with amp():
                loss = F.cross_entropy(model(prep(xt[idx])), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode(), amp():
            correct = sum((model(prep(xv[s:s + eval_batch])).argmax(1) == yv[s:s + eval_batch]).sum()
                          for s in range(0, len(yv), eval_batch))
        float(correct)  # the epoch's val accuracy reaches the host, as in any loop that prints it
        seconds.append(time.perf_counter() - t0)
    return seconds
