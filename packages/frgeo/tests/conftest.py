"""Tiny synthetic datasets (real on-disk layouts) and a helper to run the console entry points."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xgeo.core.synthetic import write_dataset

torch.set_num_threads(1)

#: fast settings on top of the demo preset: tiny batches, one epoch, no progress bar
FAST = ["--config", "demo", "--batch-size", "8", "--epochs", "1", "--eval-batch-size", "16", "--no-progress"]


@pytest.fixture(scope="session")
def frgeo_cvusa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic CVUSA: 24 training pairs, 8 test pairs (read-only; copy before changing)."""
    return write_dataset("cvusa", tmp_path_factory.mktemp("frgeo_cvusa"), size=8, seed=0)


@pytest.fixture(scope="session")
def frgeo_cvact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic CVACT: 24 train, 8 val, 16 test pairs (read-only)."""
    return write_dataset("cvact", tmp_path_factory.mktemp("frgeo_cvact"), size=8, seed=0)


@pytest.fixture(scope="session")
def frgeo_vigor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic VIGOR: 8 panoramas per city (read-only)."""
    return write_dataset("vigor", tmp_path_factory.mktemp("frgeo_vigor"), size=8, seed=0)


@pytest.fixture
def fast() -> list[str]:
    """Flags for a fast run on the tiny datasets."""
    return list(FAST)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Call a ``cli_entry``-wrapped main in-process; returns (exit code, stdout, stderr)."""

    def run(main, argv: list[str]) -> tuple[int, str, str]:
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
        out, err = capsys.readouterr()
        return int(code or 0), out, err

    return run
