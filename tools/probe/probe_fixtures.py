"""Shared fixtures of the bad-input probe: tiny synthetic datasets, one 1-step run, its features.

The shared fixtures are built lazily (only what the selected cases need) with the installed
commands themselves, under ``<root>/base``; every case gets its own folder for the files it breaks.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

#: read-only for root too: sysfs refuses file creation even to uid 0
READ_ONLY = Path("/sys/xgeo-probe")


@dataclass
class Case:
    """One bad input: ``setup(fx, dir)`` makes its files under ``dir`` and returns argv (command first)."""

    name: str
    setup: Callable[[Fixtures, Path], list]
    mention: tuple[str, ...] = ()  # the error line must contain each of these
    early: bool = True  # must be refused before any work
    expect: str = "refuse"  # or "succeed"
    outputs: tuple[str, ...] = ()  # succeed: files (relative to the case dir) that must exist
    forbid: tuple[str, ...] = ()  # file names that must never appear
    timeout: float = 150.0


class Fixtures:
    """Lazily built shared inputs under ``root``; ``bin`` holds the console scripts."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root = root
        self.bin = bin_dir
        root.mkdir(parents=True, exist_ok=True)

    def _run(self, *argv: object) -> None:
        cmd = [str(self.bin / str(argv[0])), *map(str, argv[1:])]
        proc = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise RuntimeError(f"{' '.join(map(str, argv[:2]))} failed ({proc.returncode}): {tail}")

    def _synth(self, dataset: str) -> Path:
        out = self.root / dataset
        if not out.exists():
            self._run("xgeo", "synth", dataset, "--out", out.with_suffix(".tmp"), "--size", 8)
            out.with_suffix(".tmp").rename(out)
        return out

    @cached_property
    def cvusa(self) -> Path:
        return self._synth("cvusa")

    @cached_property
    def cvact(self) -> Path:
        return self._synth("cvact")

    def train_argv(self, save: Path | str, *extra: object, data: Path | None = None, dataset: str = "cvusa") -> list:
        """A tiny valid frgeo-train command line; ``extra`` flags come last and win."""
        return ["frgeo-train", "--config", "demo", "--dataset", dataset, "--data-root", data or getattr(self, dataset),
                "--epochs", 1, "--max-steps", 1, "--eval-batch-size", 8, "--save_path", save, *extra]

    @cached_property
    def run(self) -> Path:
        """A finished 1-step cvusa run (model_best.pth.tar, checkpoint.pth.tar, metrics.json, log.jsonl)."""
        out = self.root / "run_cvusa"
        if not (out / "metrics.json").exists():
            tmp = self.root / "run_cvusa.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            self._run(*self.train_argv(tmp, "--no-progress"))
            tmp.rename(out)
        return out

    @property
    def ckpt(self) -> Path:
        return self.run / "model_best.pth.tar"

    @cached_property
    def feats(self) -> Path:
        """query.h5 / gallery.h5 of the run on cvusa (1280-d, no /locations)."""
        out = self.root / "feats"
        if not (out / "gallery.h5").exists():
            self._run("frgeo-eval", "--checkpoint", self.run, "--data-root", self.cvusa, "--dataset", "cvusa",
                      "-b", 8, "--out", out)
        return out

    @cached_property
    def gallery_loc(self) -> Path:
        """The run's cvusa gallery features with made-up /locations (for xgeo localize)."""
        path = self.root / "gallery_loc.h5"
        if not path.exists():
            import h5py
            import numpy as np

            shutil.copyfile(self.feats / "gallery.h5", path)
            with h5py.File(path, "a") as h5:
                n = h5["features"].shape[0]
                loc = h5.create_dataset("locations", data=np.linspace(0, 1, 2 * n).reshape(n, 2) + [40.0, -90.0])
                loc.attrs["crs"] = "latlon"
        return path

    @property
    def panos(self) -> list[Path]:
        return sorted((self.cvusa / "streetview" / "panos").glob("*.jpg"))[:2]


# ------------------------------------------------------------------------------------------ file makers
def a_file(d: Path, name: str = "afile", text: str = "not a folder\n") -> Path:
    """An ordinary file (also the base of ``afile/sub``, a path nobody can create)."""
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def copy_file(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def features_file(src: Path, dst: Path, edit: Callable) -> Path:
    """A copy of feature file ``src`` changed by ``edit(h5py_file)``."""
    import h5py

    copy_file(src, dst)
    with h5py.File(dst, "a") as h5:
        edit(h5)
    return dst


def replace_dataset(h5, name: str, data) -> None:
    attrs = dict(h5[name].attrs) if name in h5 else {}
    if name in h5:
        del h5[name]
    ds = h5.create_dataset(name, data=data)
    ds.attrs.update(attrs)


def rows(h5, n: int) -> None:
    """Keep the first ``n`` rows of every per-row dataset."""
    for name in list(h5):
        replace_dataset(h5, name, h5[name][:n])


def truncate(src: Path, dst: Path, keep: float = 0.4) -> Path:
    data = src.read_bytes()
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


class _Payload:
    """Unpickling this runs a shell command that creates a PWNED marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def pickle_payload(path: Path, marker: Path) -> Path:
    """A hostile ``.pth.tar``: plain pickle whose loading executes code (weights_only must refuse it)."""
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": _Payload(marker), "epoch": 0}, fh)
    return path


def nan_checkpoint(src: Path, dst: Path) -> Path:
    """A copy of checkpoint ``src`` whose model weights are all NaN."""
    import torch

    state = torch.load(src, map_location="cpu", weights_only=True)

    def poison(obj) -> None:
        values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
        for v in values:
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                v.fill_(float("nan"))
            else:
                poison(v)

    poison(state["state_dict"])
    torch.save(state, dst)
    return dst


DEMO_PRESET = Path(__file__).resolve().parents[2] / "packages/frgeo/src/xgeo/frgeo/presets/demo.yaml"


def yaml_file(d: Path, text: str | None = None, set_keys: dict[str, str] | None = None, name: str = "preset.yaml") -> Path:
    """A user preset: ``text`` as is, or the shipped demo preset with the lines of ``set_keys`` replaced/added."""
    if text is None:
        lines = [ln for ln in DEMO_PRESET.read_text().splitlines() if ln.split(":")[0] not in (set_keys or {})]
        text = "\n".join([*lines, *(f"{k}: {v}" for k, v in (set_keys or {}).items())]) + "\n"
    return a_file(d, name, text)
