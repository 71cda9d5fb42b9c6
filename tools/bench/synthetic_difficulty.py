"""FRGeo's demo preset on the synthetic worlds at each difficulty: R@1 against chance (not a test).

For each dataset (CVUSA, CVACT, VIGOR cross-area) and difficulty, writes the synthetic dataset of
``xgeo synth`` (default size), trains ``frgeo-train --config demo`` on it and prints R@1 of the
last epoch next to chance (1 / gallery size) and its ratio to chance. Needs xgeo-frgeo installed.

    python tools/bench/synthetic_difficulty.py [--difficulty easy standard] [--datasets cvusa cvact vigor]
        [--workdir DIR] [--epochs N] [--nuisance FIELD=VALUE ...]
"""

from __future__ import annotations

import argparse
import inspect
import tempfile
import time
from pathlib import Path

from xgeo.core.synthetic import WRITERS, write_dataset

SIZES = {"cvusa": 100, "cvact": 100, "vigor": 100}


def run_one(dataset: str, difficulty: str, workdir: Path, seed: int, epochs: int | None) -> dict:
    from xgeo.frgeo.config import resolve
    from xgeo.frgeo.run import train

    kwargs = {"difficulty": difficulty} if "difficulty" in inspect.signature(WRITERS.get(dataset)).parameters else {}
    start = time.perf_counter()
    root = write_dataset(dataset, workdir / f"{dataset}-{difficulty}", size=SIZES[dataset], seed=seed, **kwargs)
    given = {"config": "demo", "dataset": dataset, "data_root": str(root), "progress": False, "overwrite": True,
             "save_path": str(workdir / f"run-{dataset}-{difficulty}"), "seed": seed}
    if dataset == "vigor":
        given["cross"] = True
    if epochs is not None:
        given["epochs"] = epochs
    metrics = train(resolve(given))
    from xgeo.frgeo.data import PROFILES, open_split

    config = resolve(given)
    split = open_split(config.data, PROFILES.get(dataset).eval_split, None)
    m = split.task.num_gallery
    return {"R@1": float(metrics["R@1"]), "chance": 100.0 / m, "gallery": m, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--difficulty", nargs="+", default=["easy", "standard"])
    parser.add_argument("--datasets", nargs="+", default=["cvusa", "cvact", "vigor"])
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--nuisance", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="try other standard nuisance values (Python literals), e.g. lean=0.9 clutter=(5,12)")
    args = parser.parse_args()
    if args.nuisance:
        import ast
        import dataclasses

        from xgeo.core.synthetic.difficulty import DIFFICULTIES, Difficulty

        changes = {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in args.nuisance)}
        standard = DIFFICULTIES.get("standard")
        DIFFICULTIES._entries["standard"] = Difficulty("standard", dataclasses.replace(standard.nuisance, **changes))
        print(f"standard nuisance for this run: {DIFFICULTIES.get('standard').nuisance}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        rows = []
        for difficulty in args.difficulty:
            for dataset in args.datasets:
                r = run_one(dataset, difficulty, work, args.seed, args.epochs)
                rows.append((dataset, difficulty, r))
                print(f"{dataset:6s} {difficulty:8s} R@1 {r['R@1']:6.2f}  chance {r['chance']:5.2f} "
                      f"(x{r['R@1'] / r['chance']:.1f}, gallery {r['gallery']})  {r['seconds']:.0f}s", flush=True)


if __name__ == "__main__":
    main()
