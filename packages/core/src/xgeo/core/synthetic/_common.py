"""Helpers shared by the dataset writers: ids, image batches, deterministic ``.mat`` files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xgeo.core.errors import XgeoError
from xgeo.core.io import atomic_write, write_image

#: characters of Google-Street-View-like panorama ids
ID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))

_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by xgeo.core.synthetic"


def check_size(size: int, out: str | Path) -> None:
    """Reject a non-positive dataset size with a one-line error."""
    if int(size) < 1:
        raise XgeoError(out, f"size must be a positive number of pairs, got {size}", "pass --size 1 or more")


def check_out(out: str | Path) -> Path:
    """The output folder (created); an existing file in its place is a user error."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise XgeoError(out, "exists and is not a folder", "pass --out pointing at a new or existing folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def random_ids(rng: np.random.Generator, n: int, length: int = 22) -> list[str]:
    """``n`` distinct random ids of ``length`` characters from :data:`ID_ALPHABET`."""
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < n:
        for row in rng.integers(0, len(ID_ALPHABET), (n - len(ids), length)):
            s = "".join(ID_ALPHABET[row])
            if s not in seen:
                seen.add(s)
                ids.append(s)
    return ids


def write_images(paths: list[Path], images: torch.Tensor, quality: int = 95) -> None:
    """Write a ``[N, 3, H, W]`` batch in ``[0, 1]`` to ``paths`` (atomically, one by one)."""
    arr = (images.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8)
    for path, img in zip(paths, arr, strict=True):
        write_image(path, img, quality=quality)


def save_mat(path: str | Path, variables: dict[str, Any]) -> None:
    """``scipy.io.savemat`` with a fixed header text (no creation time), written atomically."""
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, variables, do_compression=False, oned_as="column")
    data = bytearray(buf.getvalue())
    data[:116] = _MAT_HEADER.ljust(116, b" ")  # the 116-byte descriptive text holds the time stamp
    with atomic_write(path) as tmp:
        tmp.write_bytes(bytes(data))
