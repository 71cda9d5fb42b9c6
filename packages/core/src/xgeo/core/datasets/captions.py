"""RSITMD and RSICD readers: remote-sensing images and their five captions each.

Two on-disk forms (``specs/datasets-crossmodal.md`` §1), picked automatically per split:

- **precomp** (AMFMN / HVSA): ``<split>_caps.txt`` (one caption per line, image ``k``'s five on
  lines ``5k … 5k+4``, blank captions kept in their slot) and ``<split>_filename.txt`` with one
  name per image (train) or one per caption (test: each name on 5 lines);
- **json** (Karpathy style): ``dataset_RSITMD.json`` / ``dataset_rsicd.json``, ``images`` each with
  ``filename``, ``split`` and ``sentences[].raw``.

Images live in ``images/`` (RSITMD) or ``RSICD_images/`` (RSICD) under the root, or in
``image_dir``. Queries are the N images, the gallery the 5N captions (gallery "files" are the
caption strings); pair ``c`` = (image ``c // 5``, caption ``c``), which is HVSA's caption-level
training item. The task relates image ``i`` to captions ``5i … 5i+4`` (protocol ``text-image``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from xgeo.core.datasets import register_dataset
from xgeo.core.datasets._files import check_split
from xgeo.core.datasets.base import CrossViewSplit, Transform
from xgeo.core.errors import DatasetNotFoundError, XgeoError
from xgeo.core.io import read_json
from xgeo.core.task import RetrievalTask

CAPTIONS_PER_IMAGE = 5
FORMS = ("auto", "precomp", "json")


class CaptionDataset(Dataset):
    """The captions of a split as ``{"gallery": text, "index": c}`` samples, for embedding."""

    def __init__(self, captions: list[str]) -> None:
        self.captions = captions

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"gallery": self.captions[index], "index": index}


def read_caption_lines(path: Path) -> list[str]:
    """Lines of a precomp file, each stripped; blank lines kept, the final newline not counted."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as err:
        raise XgeoError(path, f"unreadable ({type(err).__name__})", "restore the file") from None
    lines = text.split("\n")
    if lines and lines[-1].strip() == "":
        lines.pop()
    return [line.strip() for line in lines]


class CaptionSplit(CrossViewSplit):
    """One split of an image-caption dataset: N images (queries), 5N captions (gallery)."""

    json_names: tuple[str, ...] = ()
    image_dirs: tuple[str, ...] = ("images",)
    #: which JSON splits make up each split name (AMFMN's RSICD "train" is train + val)
    json_splits: dict[str, tuple[str, ...]] = {"train": ("train",), "val": ("val",), "test": ("test",)}

    def __init__(self, root: str | Path, split: str = "train", transforms: Transform | None = None,
                 form: str = "auto", image_dir: str | Path | None = None) -> None:
        check_split(split, ("train", "val", "test"), self.title)
        if form not in FORMS:
            raise XgeoError(None, f"unknown caption form {form!r}", f"use one of: {', '.join(FORMS)}")
        root = Path(root)
        if not root.is_dir():
            raise DatasetNotFoundError(root, self.title, self.layout_text())
        super().__init__(root, split, transforms)
        self.form = self._pick_form(form)
        names, captions = self._read_precomp() if self.form == "precomp" else self._read_json()
        self._set(names, captions, self._image_folder(image_dir))

    # ------------------------------------------------------------------ layout
    @property
    def title(self) -> str:
        return self.name.upper()

    @classmethod
    def layout_text(cls) -> str:
        return (f"{{train_caps.txt, train_filename.txt, test_caps.txt, test_filename.txt, {cls.image_dirs[0]}/}} "
                f"or {{{cls.json_names[0]}, {cls.image_dirs[0]}/}}")

    def _json_path(self) -> Path | None:
        return next((self.root / n for n in self.json_names if (self.root / n).is_file()), None)

    def _pick_form(self, form: str) -> str:
        has_precomp = (self.root / f"{self.split}_caps.txt").is_file()
        if form == "auto":
            form = "precomp" if has_precomp else "json"
        if form == "json" and self._json_path() is None:
            if has_precomp or any((self.root / f"{s}_caps.txt").is_file() for s in ("train", "test")):
                raise XgeoError(self.root / f"{self.split}_caps.txt", f"no {self.split} split in this precomp folder",
                                f"use a split with *_caps.txt files, or add {self.json_names[0]}")
            raise DatasetNotFoundError(self.root, self.title, self.layout_text())
        return form

    def _image_folder(self, image_dir: str | Path | None) -> Path:
        if image_dir is not None:
            folder = Path(image_dir)
            return folder if folder.is_absolute() else self.root / folder
        return next((self.root / d for d in self.image_dirs if (self.root / d).is_dir()), self.root / self.image_dirs[0])

    # ------------------------------------------------------------------ readers
    def _read_precomp(self) -> tuple[list[str], list[str]]:
        caps_path = self.root / f"{self.split}_caps.txt"
        names_path = self.root / f"{self.split}_filename.txt"
        if not names_path.is_file():
            raise XgeoError(names_path, "file-name list not found", f"restore it next to {caps_path.name}")
        captions = read_caption_lines(caps_path)
        names = read_caption_lines(names_path)
        if not captions:
            raise XgeoError(caps_path, "the caption file is empty",
                            "restore it (HVSA's rsicd_raw ships empty files: use AMFMN's rsicd_precomp)")
        per = CAPTIONS_PER_IMAGE
        if len(names) == len(captions):  # one line per caption: every 5th name is the image
            blocks = [names[i:i + per] for i in range(0, len(names), per)]
            if any(len(set(b)) != 1 for b in blocks):
                raise XgeoError(names_path, "one name per caption, but a block of 5 names differs",
                                "list each image name on 5 consecutive lines, or once per image")
            names = [b[0] for b in blocks]
        if len(captions) != per * len(names) or len(captions) % per:
            raise XgeoError(caps_path, f"{len(captions)} captions for {len(names)} images in {names_path.name}",
                            f"each image needs exactly {per} caption lines (blank lines count)")
        if any(not n for n in names):
            raise XgeoError(names_path, "a blank image name", "remove blank lines inside the file-name list")
        return names, captions

    def _read_json(self) -> tuple[list[str], list[str]]:
        path = self._json_path()
        assert path is not None
        data = read_json(path)
        images = data.get("images") if isinstance(data, dict) else None
        if not isinstance(images, list):
            raise XgeoError(path, "no 'images' list", "pass the dataset's annotation JSON")
        wanted = self.json_splits[self.split]
        names: list[str] = []
        captions: list[str] = []
        for k, image in enumerate(images):
            if not isinstance(image, dict) or "filename" not in image or "sentences" not in image:
                raise XgeoError(path, f"images[{k}] lacks filename or sentences", "pass the dataset's annotation JSON")
            if image.get("split") not in wanted:
                continue
            sentences = [str(s.get("raw", "")).strip() if isinstance(s, dict) else "" for s in image["sentences"]]
            if len(sentences) != CAPTIONS_PER_IMAGE:
                raise XgeoError(path, f"image {image['filename']} has {len(sentences)} sentences",
                                f"each image needs exactly {CAPTIONS_PER_IMAGE} (blank ones allowed)")
            names.append(str(image["filename"]))
            captions.extend(sentences)
        if not names:
            raise XgeoError(path, f"no image with split {' or '.join(wanted)}", "check the split name")
        return names, captions

    def _set(self, names: list[str], captions: list[str], folder: Path) -> None:
        self.image_dir = folder
        self.image_names = names
        self.captions = captions
        self.query_files = [folder / n for n in names]
        self.gallery_files = []
        n = len(names)
        caption_ids = [f"{names[c // CAPTIONS_PER_IMAGE]}#{c % CAPTIONS_PER_IMAGE}" for c in range(len(captions))]
        self.pairs = np.stack([np.arange(5 * n) // CAPTIONS_PER_IMAGE, np.arange(5 * n)], axis=1).astype(np.int64)
        self.task = RetrievalTask.captions(names, caption_ids, CAPTIONS_PER_IMAGE, name=f"{self.name}-{self.split}")

    # ------------------------------------------------------------------ access
    @property
    def num_images(self) -> int:
        return len(self.image_names)

    def load_gallery(self, index: int) -> str:  # type: ignore[override]
        """Caption ``index`` (a string; may be empty)."""
        return self.captions[index]

    def gallery(self, transforms: Transform | None = None) -> Dataset:  # type: ignore[override]
        """All captions of the split, in order (``{"gallery": text, "index"}``)."""
        return CaptionDataset(self.captions)

    def subset(self, images: np.ndarray | list[int], split: str | None = None) -> CaptionSplit:
        """The same split restricted to ``images`` (indices, in the given order) with their captions."""
        idx = [int(i) for i in images]
        out = object.__new__(type(self))
        out.root, out.split, out.transforms, out.form = self.root, split or self.split, self.transforms, self.form
        caps = [self.captions[CAPTIONS_PER_IMAGE * i + j] for i in idx for j in range(CAPTIONS_PER_IMAGE)]
        out._set([self.image_names[i] for i in idx], caps, self.image_dir)
        return out


@register_dataset
class RSITMD(CaptionSplit):
    """RSITMD (4743 images, train/test; no official val split)."""

    name = "rsitmd"
    json_names = ("dataset_RSITMD.json",)
    image_dirs = ("images",)


@register_dataset
class RSICD(CaptionSplit):
    """RSICD (10921 images). AMFMN's precomp "train" merges the JSON's train and val splits."""

    name = "rsicd"
    json_names = ("dataset_rsicd.json", "dataset_RSICD.json")
    image_dirs = ("RSICD_images", "images")
    json_splits = {"train": ("train", "val"), "val": ("val",), "test": ("test",)}
