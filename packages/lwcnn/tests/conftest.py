"""Tiny synthetic datasets (real on-disk layouts), a tiny model and a helper to run the console entry points."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xgeo.core.synthetic import write_dataset

torch.set_num_threads(1)

#: the demo preset at test scale: tiny batches, one epoch, no progress bar
FAST = ["--config", "demo", "--batch_size", "8", "--n_epochs", "1", "--batch_size_val", "16", "--no-progress"]
TINY_SIZES = {"ground_size": [16, 64], "aerial_size": [32, 32]}


@pytest.fixture(scope="session")
def lwcnn_cvusa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic CVUSA: 24 training pairs, 8 test pairs (read-only; copy before changing)."""
    return write_dataset("cvusa", tmp_path_factory.mktemp("lwcnn_cvusa"), size=8, seed=0)


@pytest.fixture(scope="session")
def lwcnn_cvact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic CVACT: 24 train, 8 val, 16 test pairs (read-only)."""
    return write_dataset("cvact", tmp_path_factory.mktemp("lwcnn_cvact"), size=8, seed=0)


@pytest.fixture
def fast() -> list[str]:
    """Flags for a fast run on the tiny datasets."""
    return list(FAST)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Call a console main in-process; returns (exit code, stdout, stderr)."""

    def run(main, argv: list[str]) -> tuple[int, str, str]:
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
        out, err = capsys.readouterr()
        return int(code or 0), out, err

    return run
