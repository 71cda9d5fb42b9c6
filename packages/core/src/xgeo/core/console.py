"""Console scripts: one-line usage errors and the ``configure(parser)`` / ``run(args)`` convention.

Every command of every package is a :class:`Command`: ``configure`` adds its options to an
:class:`ArgumentParser`, ``run`` does the work and returns the exit code. ``Command.main`` is the
console-script entry point; a :class:`~xgeo.core.errors.XgeoError` ends it with one line and exit
code 2 (see :func:`~xgeo.core.errors.cli_entry`), and so does a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xgeo.core.errors import EXIT_USER_ERROR, cli_entry


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` whose usage errors are one line: ``error: PROG: what; see PROG --help``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"error: {self.prog}: {message}; see {self.prog} --help\n")


@dataclass(frozen=True)
class Command:
    """One console script: its name, its options and what it runs.

    ``run(args)`` gets the parsed namespace; ``args._argv`` holds the arguments as typed (for a
    command that re-launches itself under ``torchrun``).
    """

    prog: str
    description: str
    configure: Callable[[ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]
    argument_default: Any = None

    def parser(self) -> ArgumentParser:
        """The command's parser, with every option added."""
        parser = ArgumentParser(prog=self.prog, description=self.description, argument_default=self.argument_default)
        self.configure(parser)
        return parser

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Console-script entry point."""
        return _main(self, list(sys.argv[1:] if argv is None else argv))


@cli_entry
def _main(command: Command, argv: list[str]) -> int:
    args = command.parser().parse_args(argv)
    args._argv = argv
    return int(command.run(args) or 0)


def typed_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of a namespace without the private entries (``_argv``, ...)."""
    return {k: v for k, v in vars(args).items() if not k.startswith("_")}
