"""Regularizer tests train tiny networks many times: one thread each is faster for tensors this small, and
immune to the thread spin-waits of a machine busy with other processes (50x slower BatchNorm seen)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
