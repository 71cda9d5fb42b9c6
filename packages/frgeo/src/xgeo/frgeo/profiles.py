"""Per-dataset settings of FRGeo, as a registry: input sizes, evaluation split, metric sources.

``metrics`` maps each reported metric to the core evaluation protocol that computes it, so every
number comes from :func:`xgeo.core.evaluate.evaluate_arrays` (one metric path). FRGeo counts R@1%
with ``K = floor(M/100)`` (protocol ``"crossview"``) on every dataset, and on VIGOR also reports the
hit rate, which only protocol ``"vigor"`` computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: the metrics FRGeo reports everywhere, taken from the "crossview" protocol (floor R@1%)
CROSSVIEW_METRICS = {"R@1": "crossview", "R@5": "crossview", "R@10": "crossview", "R@1%": "crossview"}


@dataclass(frozen=True)
class DatasetProfile:
    """How FRGeo reads, sizes and evaluates one dataset."""

    name: str
    ground_size: tuple[int, int]
    aerial_size: tuple[int, int]
    #: split evaluated after every epoch; the best checkpoint is chosen on it
    eval_split: str
    #: metric key -> core protocol that computes it
    metrics: dict[str, str] = field(default_factory=lambda: dict(CROSSVIEW_METRICS))
    #: the feature-file protocol to give `xgeo evaluate` for the same R@K / R@1% numbers
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
        metrics={**CROSSVIEW_METRICS, "hit": "vigor"},
        selection="VIGOR has no validation split: like the paper, the best epoch is chosen on the test split.",
    ),
}


def get_profile(name: str) -> DatasetProfile:
    """The profile of dataset ``name`` (``cvusa``, ``cvact`` or ``vigor``)."""
    from xgeo.core.errors import XgeoError

    if name not in PROFILES:
        raise XgeoError(None, f"unknown dataset {name!r}", f"use one of {', '.join(PROFILES)}")
    return PROFILES[name]
