"""Miniature RSITMD and RSICD: aerial tiles of one world with five captions each, in both real forms.

Written under ``out`` (``specs/datasets-crossmodal.md`` §1, §6):

- precomp files ``train_caps.txt`` / ``train_filename.txt`` (one name per image) and
  ``test_caps.txt`` / ``test_filename.txt`` (one name per caption);
- the Karpathy-style JSON (``dataset_RSITMD.json`` or ``dataset_rsicd.json``) with the same
  captions; RSICD's JSON also has a ``val`` split, which its precomp ``train`` merges (as AMFMN's);
- the images (``images/<scene>_<n>.tif`` for RSITMD, ``RSICD_images/<scene>_<n>.jpg`` or
  ``<5 digits>.jpg`` for RSICD);
- an AMFMN vocabulary ``vocab/<name>_splits_vocab.json`` built from the training captions;
- ``synthetic_content.json``: the measured facts of every image (not part of the real datasets;
  it lets tests write their own sentences about an image).

Captions come from each tile's measured content (:mod:`xgeo.core.synthetic.describe`). As in the
real data, the first training image has a blank caption and some images repeat a caption (RSICD
pads images to five captions by repetition much more often).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xgeo.core.datasets.vocab import Vocabulary, tokenize
from xgeo.core.io import write_json, write_text
from xgeo.core.synthetic._common import check_out, check_size, write_images
from xgeo.core.synthetic.describe import TileFacts, captions, tile_facts
from xgeo.core.synthetic.views import aerial_tiles
from xgeo.core.synthetic.world import World, sample_places, world_side

#: training (RSICD: train+val) images per test image, as in the real datasets (RSITMD 4,291 / 452, RSICD
#: 9,828 / 1,093, both about 9:1); a text-image model from random init needs that many images to generalise
TRAIN_FACTOR = 9
PER_IMAGE = 5


def _lines(items: list[str]) -> str:
    return "".join(f"{s}\n" for s in items)


def _five(facts: TileFacts, rng: np.random.Generator, distinct: int) -> list[str]:
    """Five captions with ``distinct`` different ones, padded by repeating them (RSICD style)."""
    sentences = captions(facts, rng, PER_IMAGE)
    return [sentences[i % distinct] for i in range(PER_IMAGE)]


def _write(out: str | Path, size: int, seed: int, *, name: str, json_name: str, image_dir: str, suffix: str,
           train_factor: int, val_fraction: float, image_size: int, extent_px: int, numeric_fraction: float,
           repeat_distinct: tuple[int, int], tag: int) -> Path:
    check_size(size, out)
    out = check_out(out)
    n_test, n_train = int(size), int(train_factor * size)
    n = n_train + n_test
    rng = np.random.default_rng(np.random.SeedSequence([seed, tag]))
    side = world_side(n, extent_px)
    world = World(int(rng.integers(2**31)), size_px=side, water_fraction=0.15)
    places = sample_places(rng, side, n, margin=extent_px // 2 + 2)
    half = extent_px // 2
    facts = [tile_facts(world.classes[r - half:r - half + extent_px, c - half:c - half + extent_px]) for r, c in places]

    counters: dict[str, int] = {}
    names: list[str] = []
    numeric = 0
    for f in facts:
        if rng.random() < numeric_fraction:
            numeric += 1
            names.append(f"{numeric:05d}{suffix}")
        else:
            counters[f.scene] = counters.get(f.scene, 0) + 1
            names.append(f"{f.scene}_{counters[f.scene]}{suffix}")

    lo, hi = repeat_distinct
    caps = [_five(f, rng, int(rng.integers(lo, hi + 1))) for f in facts]
    caps[0][PER_IMAGE - 1] = ""  # a blank caption, as in the real training files
    for k in range(3, n_train, 6):  # and some repeated ones
        caps[k][3] = caps[k][0]

    folder = out / image_dir
    rows, cols = places[:, 0].tolist(), places[:, 1].tolist()
    for s in range(0, n, 128):
        sl = slice(s, s + 128)
        write_images([folder / m for m in names[sl]], aerial_tiles(world, rows[sl], cols[sl], extent_px, image_size))

    train, test = range(n_train), range(n_train, n)
    write_text(out / "train_caps.txt", _lines([c for i in train for c in caps[i]]))
    write_text(out / "train_filename.txt", _lines([names[i] for i in train]))
    write_text(out / "test_caps.txt", _lines([c for i in test for c in caps[i]]))
    write_text(out / "test_filename.txt", _lines([names[i] for i in test for _ in range(PER_IMAGE)]))

    n_val = int(round(val_fraction * n_train))
    splits = ["val" if i >= n_train - n_val else "train" for i in train] + ["test"] * n_test
    images = []
    for i in range(n):
        sentences = [{"raw": c, "tokens": tokenize(c), "imgid": i, "sentid": PER_IMAGE * i + j} for j, c in enumerate(caps[i])]
        images.append({"filename": names[i], "imgid": i, "split": splits[i], "sentids": [PER_IMAGE * i + j for j in range(5)],
                       "sentences": sentences})
    write_json(out / json_name, {"images": images, "dataset": name})
    Vocabulary.build([c for i in train for c in caps[i]]).write(out / "vocab" / f"{name}_splits_vocab.json")
    write_json(out / "synthetic_content.json", {
        "train": [{"filename": names[i], **facts[i].to_dict()} for i in train],
        "test": [{"filename": names[i], **facts[i].to_dict()} for i in test],
    })
    return out


def write_rsitmd(out: str | Path, size: int = 100, seed: int = 0, *, train_factor: int = TRAIN_FACTOR, aerial_size: int = 64,
                 extent_px: int = 64) -> Path:
    """A synthetic RSITMD: ``size`` test images, ``train_factor * size`` training images (no val split)."""
    return _write(out, size, seed, name="rsitmd", json_name="dataset_RSITMD.json", image_dir="images", suffix=".tif",
                  train_factor=train_factor, val_fraction=0.0, image_size=aerial_size, extent_px=extent_px,
                  numeric_fraction=0.0, repeat_distinct=(5, 5), tag=0x7E37)


def write_rsicd(out: str | Path, size: int = 100, seed: int = 0, *, train_factor: int = TRAIN_FACTOR, aerial_size: int = 64,
                extent_px: int = 64) -> Path:
    """A synthetic RSICD: ``size`` test images, ``train_factor * size`` train+val images (10% val in the JSON)."""
    return _write(out, size, seed, name="rsicd", json_name="dataset_rsicd.json", image_dir="RSICD_images", suffix=".jpg",
                  train_factor=train_factor, val_fraction=0.1, image_size=aerial_size, extent_px=extent_px,
                  numeric_fraction=0.08, repeat_distinct=(2, 5), tag=0x7C1D)
