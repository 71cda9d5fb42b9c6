"""Epoch-level progress of whatever trains inside a ``with epoch_progress(label):`` block.

core's :class:`~xgeo.core.train.Trainer` calls :func:`notify_epoch` after every epoch on rank 0;
inside :func:`epoch_progress` that advances one tqdm bar (epochs, latest R@1) when the output is a
terminal, or prints one line per epoch when it is not. Outside such a block nothing is shown, so
method commands keep their own output. ``xgeo demo`` wraps each method's demo in one.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

_active: list[EpochProgress] = []


class EpochProgress:
    """One method's progress: a bar on a terminal, one line per epoch otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None, metric: str = "R@1") -> None:
        self.label, self.metric = label, metric
        self.stream = stream or sys.stdout
        self.bar: Any = None
        self.epochs_seen = 0

    @property
    def is_terminal(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self, epoch: int, epochs: int, record: Mapping[str, Any]) -> str:
        """``frgeo  epoch 3/20  R@1 12.0`` (the metric only when the record has it)."""
        text = f"{self.label}  epoch {epoch + 1}/{epochs}"
        if self.metric in record:
            text += f"  {self.metric} {float(record[self.metric]):.1f}"
        return text

    def update(self, epoch: int, epochs: int, record: Mapping[str, Any]) -> None:
        """Show that ``epoch`` (0-based) of ``epochs`` ended with ``record``."""
        self.epochs_seen += 1
        if not self.is_terminal:
            print(self.line(epoch, epochs, record), file=self.stream, flush=True)
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=epochs, initial=epoch, desc=self.label, unit="epoch", file=self.stream, leave=True)
        if self.metric in record:
            self.bar.set_postfix({self.metric: f"{float(record[self.metric]):.1f}"}, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def epoch_progress(label: str, stream: TextIO | None = None, metric: str = "R@1") -> Iterator[EpochProgress]:
    """Show the epochs of every Trainer run inside the block under ``label``."""
    progress = EpochProgress(label, stream, metric)
    _active.append(progress)
    try:
        yield progress
    finally:
        _active.remove(progress)
        progress.close()


def notify_epoch(epoch: int, epochs: int, record: Mapping[str, Any]) -> None:
    """Called by the Trainer (rank 0) when an epoch ends; shown by the innermost :func:`epoch_progress`."""
    if _active:
        _active[-1].update(epoch, epochs, record)
