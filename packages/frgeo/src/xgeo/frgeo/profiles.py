"""Per-dataset settings of FRGeo, as a registry: input sizes, evaluation split, metric sources.

Every number comes from :func:`xgeo.core.evaluate.evaluate_arrays` (one metric path) with the
profile's core ``protocol``: ``"crossview"`` on CVUSA/CVACT and ``"vigor"`` (adds the hit rate) on
VIGOR. FRGeo counts R@1% with ``K = floor(M/100)`` everywhere, so the ``"floor"`` convention
replaces VIGOR's own ``floor+1``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: FRGeo's R@1%: K = floor(M/100), on every dataset
PERCENT_CONVENTION = "floor"


@dataclass(frozen=True)
class DatasetProfile:
    """How FRGeo reads, sizes and evaluates one dataset."""

    name: str
    ground_size: tuple[int, int]
    aerial_size: tuple[int, int]
    #: split evaluated after every epoch; the best checkpoint is chosen on it
    eval_split: str
    #: core evaluation protocol (with ``PERCENT_CONVENTION``), also what `xgeo evaluate` takes
    protocol: str = "crossview"
    #: one line for the README / log on how the paper chose its model here
    selection: str = ""


PROFILES: dict[str, DatasetProfile] = {
    "cvusa": DatasetProfile(
        "cvusa",
        (128, 512),
        (256, 256),
        eval_split="test",
        selection="CVUSA has no validation split: like the paper, the best epoch is chosen on the test split (val-19zl).",
    ),
    "cvact": DatasetProfile(
        "cvact",
        (128, 512),
        (256, 256),
        eval_split="val",
        selection="CVACT: evaluated and selected on CVACT_val, the split the paper reports; CVACT_test stays unseen "
        "(frgeo-eval --split test).",
    ),
    "vigor": DatasetProfile(
        "vigor",
        (320, 640),
        (320, 320),
        eval_split="test",
        protocol="vigor",
        selection="VIGOR has no validation split: like the paper, the best epoch is chosen on the test split.",
    ),
}


def get_profile(name: str) -> DatasetProfile:
    """The profile of dataset ``name`` (``cvusa``, ``cvact`` or ``vigor``)."""
    from xgeo.core.errors import XgeoError

    if name not in PROFILES:
        raise XgeoError(None, f"unknown dataset {name!r}", f"use one of {', '.join(PROFILES)}")
    return PROFILES[name]
