"""Shared fixtures: a tiny synthetic SN6-CMPC and the flags of a one-step demo run on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from xgeo.core.synthetic import write_dataset


@pytest.fixture(scope="session")
def sn6(tmp_path_factory) -> Path:
    """12 training / 4 test optical references, 32 px patches."""
    return write_dataset("sn6-cmpc", tmp_path_factory.mktemp("sn6"), size=4, seed=0, aerial_size=32, extent_px=32)


@pytest.fixture(scope="session")
def tiny_flags():
    """``tiny_flags(data_root, result_path)``: one optimizer step per phase at batch 8."""
    return _tiny_flags


def _tiny_flags(data_root: Path, result_path: Path) -> list[str]:
    return ["--data-root", str(data_root), "--result-path", str(result_path), "--batch-size", "8", "--epochs", "1",
            "--refine-epochs", "1", "--max-steps", "1", "--no-progress"]
