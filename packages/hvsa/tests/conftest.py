"""A tiny synthetic RSITMD and one tiny HVSA experiment trained on it, shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xgeo.core.synthetic import write_dataset

torch.set_num_threads(1)

#: a model small enough to train a step in a second or two
TINY_PRESET = """
model: {image_size: 32, word_dim: 8, hidden_dim: 16, embed_dim: 8}
data: {dataset: rsitmd, val_ratio: 0.75, eval_batch_size: 16}
train: {lr: 1.0e-3, epochs: 1, batch_size: 5, warmup_epochs: 1, num_workers: 0, max_steps: 2}
run: {experiment_name: tiny, seeds: [3, 4], runs: 2, examples: 1}
"""


@pytest.fixture(scope="session")
def rsitmd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 test images, 4 training images, 5 captions each."""
    return write_dataset("rsitmd", tmp_path_factory.mktemp("rsitmd"), size=2, seed=0)


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("presets") / "tiny.yaml"
    path.write_text(TINY_PRESET)
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, rsitmd_root: Path, tiny_preset: Path) -> Path:
    """An experiment folder of hvsa-train (two seeded runs of two steps each)."""
    from xgeo.hvsa.cli import train_main

    out = tmp_path_factory.mktemp("experiment")
    assert train_main(["--config", str(tiny_preset), "--data-root", str(rsitmd_root), "--save-path", str(out),
                       "--no-progress", "--overwrite"]) == 0
    return out
