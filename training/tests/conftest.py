"""Shared set-up for the training tests: the `oftsr` package on sys.path, one CPU thread, fixed seeds, and paths
to the repo's shared test data and (optionally) the sibling ../shared folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

TRAINING = Path(__file__).resolve().parents[1]
REPO = TRAINING.parent
SHARED = REPO.parent / "shared"  # ../shared beside the repo; optional: tests that need it skip without it

if str(TRAINING) not in sys.path:
    sys.path.insert(0, str(TRAINING))

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
