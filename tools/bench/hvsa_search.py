"""How often ``hvsa-search`` finds a synthetic image from a sentence written fresh about it.

Not a test. For every test image of a synthetic RSITMD (``xgeo synth rsitmd``), this script writes
one new sentence from the image's measured content (``synthetic_content.json``: building count and
place, roads, water and its place, land cover) with its own phrasing, different from the writer's
caption templates (checked: no sentence equals a caption of the dataset), ranks the image feature
file with the checkpoint (the same code path as ``hvsa-search``) and prints the fraction of
sentences whose image is in the top 5 (target >= 60 %) next to chance (5 / number of images).

    xgeo synth rsitmd --out SYN --train-factor 60
    hvsa-train --config synthetic --data-root SYN --save-path RUN       # about 28 minutes on 2 cores
    python tools/bench/hvsa_search.py --data-root SYN --checkpoint RUN/run0 --gallery RUN/run0/features-test/query.h5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xgeo.core.datasets import RSITMD
from xgeo.core.synthetic.describe import number_word
from xgeo.hvsa.run import search


def place_words(place: str) -> str:
    return "middle" if place == "centre" else place


def cover_words(f: dict) -> str:
    land = f["vegetation"] + f["bare"]
    green = f["vegetation"] / land if land else 0.0
    return "mostly green land" if green > 0.7 else "mostly bare land" if green < 0.3 else "land partly green, partly bare"


def fresh_sentence(f: dict, k: int) -> str:
    """One sentence about an image's facts, phrased unlike the writer's captions. Absence is said with
    "without": AMFMN's stopword list (which the vocabulary follows) drops "no"."""
    n = f["buildings"]
    parts = [f"{number_word(n)} {'building' if n == 1 else 'buildings'} at the {place_words(f['building_place'])}"
             if n else "without buildings"]
    parts.append(f"water at the {place_words(f['water_place'])}" if f["water_place"] else "without water")
    r = f["roads"]
    parts.append(f"{number_word(r)} {'road' if r == 1 else 'roads'}" if r else "without roads")
    parts.append(cover_words(f))
    order = [parts[(i + k) % len(parts)] for i in range(len(parts))] if k % 2 else parts
    return "aerial view: " + ", ".join(order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--gallery", type=Path, required=True, help="image features of the test split (query.h5)")
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()

    facts = json.loads((args.data_root / "synthetic_content.json").read_text())["test"]
    split = RSITMD(args.data_root, "test")
    captions = {c.strip().lower() for name in ("train", "test") for c in RSITMD(args.data_root, name).captions}
    sentences = [fresh_sentence(f, k) for k, f in enumerate(facts)]
    copied = sum(s.lower() in captions for s in sentences)
    assert copied == 0, f"{copied} sentences equal a caption"
    hits = search(sentences, args.checkpoint, args.gallery, args.top_k)
    found = [f["filename"] in [image for image, _ in row] for f, row in zip(facts, hits, strict=True)]
    n = split.num_images
    print(f"example: {sentences[0]!r} -> {[image for image, _ in hits[0]]} (true {facts[0]['filename']})")
    print(f"top-{args.top_k}: {sum(found)}/{len(found)} = {100.0 * sum(found) / len(found):.1f}% "
          f"of fresh sentences (chance {100.0 * min(args.top_k, n) / n:.1f}%, target 60%)")


if __name__ == "__main__":
    main()
