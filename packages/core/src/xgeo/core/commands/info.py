"""``xgeo info``: what is installed and what this machine offers."""

from __future__ import annotations

import argparse
import platform


def configure(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    """Print one line per fact."""
    import torch

    from xgeo.core import __version__
    from xgeo.core.datasets import DATASETS
    from xgeo.core.evaluate import PROTOCOLS
    from xgeo.core.methods import installed_methods
    from xgeo.core.synthetic import WRITERS

    methods = installed_methods()
    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    rows = [
        ("xgeo-core", __version__),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("devices", ", ".join(devices)),
        ("methods", ", ".join(f"{m.name} {m.version}" for m in methods.values()) or "none installed (pip install xgeo-frgeo)"),
        ("datasets", ", ".join(sorted(DATASETS))),
        ("synthetic", ", ".join(sorted(WRITERS))),
        ("protocols", ", ".join(PROTOCOLS)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
