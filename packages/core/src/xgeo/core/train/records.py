"""Run records in ``out_dir``: ``log.jsonl`` (one JSON object per line) and ``metrics.json``."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from xgeo.core.checks import check_output_dir
from xgeo.core.errors import XgeoError
from xgeo.core.io import write_json, write_text
from xgeo.core.train.checkpoint import BEST_NAME, CHECKPOINT_NAME
from xgeo.core.train.distributed import process_info

LOG_NAME = "log.jsonl"
METRICS_NAME = "metrics.json"
#: files that make a folder a training run
RUN_FILES = (CHECKPOINT_NAME, BEST_NAME, METRICS_NAME, LOG_NAME)


def _plain(value: Any) -> Any:
    """JSON-friendly scalar (tensors and numpy numbers become floats/ints; NaN/inf become strings)."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def prepare_run_dir(
    path: str | os.PathLike, resume: str | os.PathLike | None, overwrite: bool, flag: str = "--save_path"
) -> Path:
    """Check a training output folder before any work.

    A folder holding a run is refused unless the run is resumed from it (``resume`` inside it) or
    ``overwrite`` is set; with ``overwrite`` the old run's files are removed, so nothing of it is
    mixed into the new one (``log.jsonl`` is not appended to).
    """
    path = check_output_dir(path, flag)
    found = [name for name in RUN_FILES if (path / name).exists()]
    if not found:
        return path
    if resume is not None and _inside(Path(resume), path):
        return path
    if not overwrite:
        raise XgeoError(
            path,
            f"{flag} already holds a run ({', '.join(found)})",
            f"pass --resume {path} to continue it, --overwrite to replace it, or another {flag}",
        )
    if process_info().is_main:
        for name in found:
            (path / name).unlink()
    return path


def _inside(resume: Path, run_dir: Path) -> bool:
    target = resume if resume.is_dir() else resume.parent
    try:
        return target.resolve() == run_dir.resolve()
    except OSError:
        return False


class RunRecords:
    """Appends log lines and rewrites ``metrics.json``; a no-op on ranks other than 0."""

    def __init__(self, out_dir: str | Path, enabled: bool) -> None:
        self.out_dir = Path(out_dir)
        self.enabled = enabled
        self.log_path = self.out_dir / LOG_NAME
        self.metrics_path = self.out_dir / METRICS_NAME

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line (flushed at once, so a killed run keeps what it logged)."""
        if not self.enabled:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps({k: _plain(v) for k, v in record.items()})
        with self.log_path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def truncate_after(self, global_step: int) -> None:
        """On resume: drop lines logged after ``global_step`` (and a half-written last line)."""
        if not self.enabled or not self.log_path.is_file():
            return
        kept = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if int(record.get("step", 0)) <= global_step:
                kept.append(line)
        write_text(self.log_path, "".join(f"{ln}\n" for ln in kept))

    def write_metrics(self, last: dict[str, Any], best: dict[str, Any] | None, history: list[dict[str, Any]]) -> None:
        """``metrics.json``: the last epoch's metrics at top level, plus ``best`` and ``history``."""
        if not self.enabled:
            return
        doc = {k: _plain(v) for k, v in last.items()}
        doc["best"] = best
        doc["history"] = [{k: _plain(v) for k, v in h.items()} for h in history]
        write_json(self.metrics_path, doc)
