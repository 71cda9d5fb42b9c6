"""The ``xgeo`` command: one sub-command per module in :mod:`xgeo.core.commands`."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from xgeo.core import __version__
from xgeo.core.errors import cli_entry

#: sub-command name -> module under ``xgeo.core.commands`` exposing ``HELP``, ``configure(parser)``
#: and ``run(args) -> int``
SUBCOMMANDS: dict[str, str] = {
    "synth": "xgeo.core.commands.synth",
    "evaluate": "xgeo.core.commands.evaluate",
    "localize": "xgeo.core.commands.localize",
    "demo": "xgeo.core.commands.demo",
    "info": "xgeo.core.commands.info",
}


def build_parser() -> argparse.ArgumentParser:
    """The full ``xgeo`` argument parser."""
    parser = argparse.ArgumentParser(prog="xgeo", description="Remote-sensing geo-localization and cross-modal retrieval toolkit.")
    parser.add_argument("--version", action="version", version=f"xgeo-core {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xgeo`` console script."""
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
