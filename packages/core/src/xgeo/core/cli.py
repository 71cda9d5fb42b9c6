"""The ``xgeo`` command: one sub-command per module in :mod:`xgeo.core.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from xgeo.core import __version__
from xgeo.core.console import ArgumentParser
from xgeo.core.errors import cli_entry

#: sub-command name -> (module under ``xgeo.core.commands`` exposing ``configure(parser)`` and
#: ``run(args) -> int``, one-line help). Only the chosen sub-command's module is imported.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("xgeo.core.commands.synth",
              "Write a synthetic dataset in a standard on-disk layout (deterministic given --size and --seed)."),
    "evaluate": ("xgeo.core.commands.evaluate",
                 "Retrieval metrics (R@K, R@1 percent, hit rate, mAP, metre accuracy) from query and gallery feature files."),
    "report": ("xgeo.core.commands.report",
               "Write report.html (metrics, CMC, retrieval grid, localisation plots) from query and gallery feature files."),
    "localize": ("xgeo.core.commands.localize",
                 "Embed query images with a method checkpoint and print their top-k gallery places (id, location, score)."),
    "demo": ("xgeo.core.commands.demo",
             "Train and evaluate every installed method on a synthetic world; print their metrics next to chance."),
    "info": ("xgeo.core.commands.info", "Show installed methods, datasets, protocols and devices."),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``xgeo`` argument parser; only ``command``'s options are loaded (all of them when ``None``)."""
    parser = ArgumentParser(prog="xgeo",
                                     description="Remote-sensing geo-localization and cross-modal retrieval toolkit.")
    parser.add_argument("--version", action="version", version=f"xgeo-core {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command in (None, name):
            module = importlib.import_module(module_name)
            module.configure(p)
            p.set_defaults(_run=module.run)
    return parser


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xgeo`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in SUBCOMMANDS else None).parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
