"""``xgeo synth``: write a miniature standard dataset (real on-disk layout) from a synthetic world."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

from xgeo.core.checks import arg_type, check_output_dir, non_negative, positive
from xgeo.core.errors import XgeoError
from xgeo.core.synthetic import SIZE_MEANING, WRITERS, write_dataset
from xgeo.core.synthetic.difficulty import DIFFICULTIES

#: what ``xgeo synth`` and ``xgeo demo`` write unless told otherwise
DEFAULT_DIFFICULTY = "standard"


def configure(parser: argparse.ArgumentParser) -> None:
    meaning = "; ".join(f"{k}: {v}" for k, v in SIZE_MEANING.items()).replace("%", "%%")  # argparse formats help
    parser.add_argument("dataset", choices=sorted(WRITERS), help="which dataset layout to write")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; files in it are replaced)")
    parser.add_argument("--size", type=int, default=100, help=f"dataset size ({meaning})")
    parser.add_argument("--seed", type=arg_type(int, non_negative), default=0, help="world and sampling seed")
    parser.add_argument("--layout", choices=("original", "flat"), default=None,
                        help="CVUSA only: original release layout (default) or the flat grd/ sat/ layout")
    parser.add_argument("--aerial-size", type=int, default=None, metavar="PX", help="aerial image side in pixels")
    parser.add_argument("--ground-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="panorama height and width in pixels")
    parser.add_argument("--ring", type=int, default=None, metavar="N",
                        help="university1652 only: drone frames per altitude, a multiple of 6 (default 18, as in the real data)")
    parser.add_argument("--train-factor", type=arg_type(int, positive), default=None, metavar="N",
                        help="training items per test item (default: the writer's own, 9 for rsitmd/rsicd as the real "
                        "datasets, 3 for the others that have it)")
    parser.add_argument("--difficulty", choices=DIFFICULTIES.names(), default=None,
                        help="; ".join(f"{k}: {d.description}" for k, d in DIFFICULTIES.items())
                        + " (default: standard, for the writers that have it)")


def run(args: argparse.Namespace) -> int:
    check_output_dir(args.out, "--out")
    kwargs: dict = {}
    if args.layout is not None:
        if args.dataset != "cvusa":
            raise XgeoError(None, f"--layout applies to cvusa only, not {args.dataset}", "drop --layout")
        kwargs["layout"] = args.layout
    if args.aerial_size is not None:
        if args.aerial_size < 8:
            raise XgeoError(None, f"--aerial-size {args.aerial_size} is too small", "pass 8 or more")
        kwargs["aerial_size"] = args.aerial_size
    if args.ground_size is not None:
        h, w = args.ground_size
        if h < 8 or w < 8 or (args.dataset != "cvusa" and h % 4):
            raise XgeoError(None, f"--ground-size {h} {w} is not usable",
                            "pass at least 8 x 8 (a multiple of 4 high for cvact/vigor)")
        kwargs["pano_size"] = (h, w)
    if args.ring is not None:
        kwargs["ring"] = args.ring  # the writer checks it
    if args.difficulty is not None:
        kwargs["difficulty"] = args.difficulty
    if args.train_factor is not None:
        kwargs["train_factor"] = args.train_factor
    accepted = inspect.signature(WRITERS.get(args.dataset)).parameters
    for key, flag in (("aerial_size", "--aerial-size"), ("pano_size", "--ground-size"), ("ring", "--ring"),
                      ("difficulty", "--difficulty"), ("train_factor", "--train-factor")):
        if key in kwargs and key not in accepted:
            raise XgeoError(None, f"{flag} does not apply to {args.dataset}", f"drop {flag}")
    if "difficulty" in accepted:
        kwargs.setdefault("difficulty", DEFAULT_DIFFICULTY)
    root = write_dataset(args.dataset, args.out, size=args.size, seed=args.seed, **kwargs)
    level = f", {kwargs['difficulty']}" if "difficulty" in kwargs else ""
    print(f"wrote synthetic {args.dataset} (size {args.size}, seed {args.seed}{level}) to {root}")
    return 0
