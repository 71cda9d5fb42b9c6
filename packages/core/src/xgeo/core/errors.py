"""The one error style for mistakes a user can fix.

A :class:`XgeoError` carries a single line that names the file at fault and the fix. Command-line
entry points wrap their body in :func:`cli_entry`, which prints that line to stderr and exits with
code 2, without a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TypeVar

EXIT_USER_ERROR = 2

F = TypeVar("F", bound=Callable[..., object])


class XgeoError(Exception):
    """A user-fixable error: ``"<path>: <what is wrong>; <how to fix it>"``."""

    def __init__(self, path: str | os.PathLike | None, problem: str, fix: str = "") -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        """The one line shown to the user."""
        head = f"{self.path}: {self.problem}" if self.path else self.problem
        return f"{head}; {self.fix}" if self.fix else head


class DatasetNotFoundError(XgeoError, FileNotFoundError):
    """The dataset root (or a required file in it) is missing (also a ``FileNotFoundError``, as in torchgeo)."""

    def __init__(self, root: str | os.PathLike, dataset: str, layout: str) -> None:
        super().__init__(
            root,
            f"no {dataset} dataset here",
            f"pass --data-root pointing at a folder laid out as {layout}"
            f" (or write a synthetic one with `xgeo synth {dataset.lower()} --out DIR`)",
        )


def cli_entry(func: F) -> F:
    """Run a console-script ``main``; turn :class:`XgeoError` into one line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except XgeoError as err:
            print(f"error: {err.line()}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
