"""Small helpers shared by the readers: checked roots, split files and split names."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from xgeo.core.errors import DatasetNotFoundError, XgeoError


def check_root(root: str | Path, dataset: str, layout: str, required: Iterable[str] = ()) -> Path:
    """``root`` as a Path; a missing folder (or a missing ``required`` entry) is a DatasetNotFoundError."""
    root = Path(root)
    if not root.is_dir() or any(not (root / r).exists() for r in required):
        raise DatasetNotFoundError(root, dataset, layout)
    return root


def check_split(split: str, known: Iterable[str], dataset: str) -> None:
    """Reject an unknown split name with a one-line error."""
    known = tuple(known)
    if split not in known:
        raise XgeoError(None, f"{dataset} has no split {split!r}", f"use one of: {', '.join(known)}")


def read_lines(path: Path, what: str, fix: str) -> list[tuple[int, str]]:
    """Non-empty lines of a split file as ``(line number, stripped text)``; a missing file names the fix."""
    if not path.is_file():
        raise XgeoError(path, f"{what} not found", fix)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise XgeoError(path, f"unreadable {what} ({type(err).__name__})", fix) from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
