"""Session-wide tiny synthetic datasets in their real on-disk layouts.

The fixtures are shared by every test of the session: treat them as read-only (copy with
``shutil.copytree`` into ``tmp_path`` before changing anything).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xgeo.core.synthetic import write_dataset

torch.set_num_threads(1)

#: sizes of the fixtures (see xgeo.core.synthetic.SIZE_MEANING)
CVUSA_SIZE = 8  # 24 train / 8 test pairs
CVACT_SIZE = 8  # 24 train / 8 val / 16 test pairs
VIGOR_SIZE = 6  # 6 panoramas per city, 3 same-area train + 3 test, 9 aerials per city


@pytest.fixture(scope="session")
def cvusa_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic CVUSA in the original layout (bingmap/, streetview/, splits/)."""
    return write_dataset("cvusa", tmp_path_factory.mktemp("cvusa"), size=CVUSA_SIZE, seed=0)


@pytest.fixture(scope="session")
def cvusa_flat_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic CVUSA in the flat Light_CVGL layout (sat/, grd/, splits/)."""
    return write_dataset("cvusa", tmp_path_factory.mktemp("cvusa_flat"), size=CVUSA_SIZE, seed=0, layout="flat")


@pytest.fixture(scope="session")
def cvact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic CVACT (ACT_data.mat, streetview/, satview_polish/)."""
    return write_dataset("cvact", tmp_path_factory.mktemp("cvact"), size=CVACT_SIZE, seed=0)


@pytest.fixture(scope="session")
def vigor_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic VIGOR (4 city folders and splits/)."""
    return write_dataset("vigor", tmp_path_factory.mktemp("vigor"), size=VIGOR_SIZE, seed=0)
