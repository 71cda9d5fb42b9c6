"""Bad-input cases for ``xgeo evaluate``, ``xgeo localize``, ``xgeo synth`` and ``xgeo demo``.

Cases named ``ok-...`` are controls: valid inputs that must succeed, so that a FAIL elsewhere is
about the bad input and not about a broken fixture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from probe_fixtures import READ_ONLY, Case, Fixtures, a_file, features_file, replace_dataset, rows, truncate


def _evaluate(fx: Fixtures, query: Path | None = None, gallery: Path | None = None, *extra) -> list:
    return ["xgeo", "evaluate", "--query", query or fx.feats / "query.h5", "--gallery", gallery or fx.feats / "gallery.h5",
            "--protocol", "crossview", *extra]


def _edited(side: str, edit):
    """Setup: evaluate with the ``side`` file replaced by an edited copy named bad.h5."""

    def setup(fx: Fixtures, d: Path) -> list:
        bad = features_file(fx.feats / f"{side}.h5", d / "bad.h5", edit)
        return _evaluate(fx, **{side: bad})

    return setup


def _nan(h5) -> None:
    f = h5["features"][:]
    f[1, 3] = np.nan
    replace_dataset(h5, "features", f)


def _inf(h5) -> None:
    f = h5["features"][:]
    f[0, 0] = np.inf
    replace_dataset(h5, "features", f)


def _localize(fx: Fixtures, *extra, images=None, checkpoint=None, gallery=None, method="frgeo") -> list:
    return ["xgeo", "localize", *(images or fx.panos), "--method", method, "--checkpoint", checkpoint or fx.ckpt,
            "--gallery", gallery or fx.gallery_loc, *extra]


def _case(name, setup, *mention, **kw) -> Case:
    return Case(name, setup, tuple(mention), **kw)


CASES: list[Case] = [
    # ---------------------------------------------------------------------------------------- evaluate
    _case("ok-evaluate", lambda fx, d: _evaluate(fx, None, None, "--json", d / "m.json"), expect="succeed",
          outputs=("m.json",)),
    _case("evaluate-gallery-0-rows", _edited("gallery", lambda h5: rows(h5, 0)), "bad.h5"),
    _case("evaluate-query-0-rows", _edited("query", lambda h5: rows(h5, 0)), "bad.h5"),
    _case("evaluate-gallery-nan", _edited("gallery", _nan), "bad.h5"),
    _case("evaluate-query-inf", _edited("query", _inf), "bad.h5"),
    _case("evaluate-query-chunk-0", lambda fx, d: _evaluate(fx, None, None, "--query-chunk", 0), "--query-chunk"),
    _case("evaluate-gallery-chunk-0", lambda fx, d: _evaluate(fx, None, None, "--gallery-chunk", 0), "--gallery-chunk"),
    _case("evaluate-query-chunk-negative", lambda fx, d: _evaluate(fx, None, None, "--query-chunk", -4), "--query-chunk"),
    _case("evaluate-json-is-directory", lambda fx, d: _evaluate(fx, None, None, "--json", (d / "out").mkdir() or d / "out"),
          "--json"),
    _case("evaluate-json-read-only", lambda fx, d: _evaluate(fx, None, None, "--json", READ_ONLY / "m.json"), "--json"),
    _case("evaluate-json-under-file", lambda fx, d: _evaluate(fx, None, None, "--json", a_file(d) / "m.json"), "--json"),
    _case("evaluate-mismatched-dims", _edited("gallery", lambda h5: replace_dataset(h5, "features", h5["features"][:, :16])),
          "16"),
    _case("evaluate-not-hdf5", lambda fx, d: _evaluate(fx, a_file(d, "q.h5", "id,x\n1,2\n")), "q.h5"),
    _case("evaluate-empty-file", lambda fx, d: _evaluate(fx, None, a_file(d, "g.h5", "")), "g.h5"),
    _case("evaluate-truncated-hdf5", lambda fx, d: _evaluate(fx, None, truncate(fx.feats / "gallery.h5", d / "g.h5")), "g.h5"),
    _case("evaluate-no-features", _edited("gallery", lambda h5: h5.__delitem__("features")), "/features"),
    _case("evaluate-integer-features",
          _edited("query", lambda h5: replace_dataset(h5, "features", (h5["features"][:] * 100).astype(np.int32))), "bad.h5"),
    _case("evaluate-labels-length", _edited("gallery", lambda h5: replace_dataset(h5, "labels", h5["labels"][:3])), "bad.h5"),
    _case("evaluate-missing-query", lambda fx, d: _evaluate(fx, d / "nope.h5"), "nope.h5"),
    _case("evaluate-query-is-directory", lambda fx, d: _evaluate(fx, d)),
    _case("evaluate-device-banana", lambda fx, d: _evaluate(fx, None, None, "--device", "banana"), "--device"),
    _case("evaluate-device-cuda7", lambda fx, d: _evaluate(fx, None, None, "--device", "cuda:7"), "cuda:7"),
    _case("evaluate-thresholds-nan", lambda fx, d: _evaluate(fx, None, None, "--thresholds", "nan"), "--thresholds"),
    # ---------------------------------------------------------------------------------------- localize
    _case("ok-localize", lambda fx, d: _localize(fx), expect="succeed", early=False),
    _case("localize-top-k-0", lambda fx, d: _localize(fx, "--top-k", 0), "--top-k"),
    _case("localize-top-k-negative", lambda fx, d: _localize(fx, "--top-k", -3), "--top-k"),
    _case("localize-unknown-method", lambda fx, d: _localize(fx, method="banana"), "banana"),
    _case("localize-unknown-view", lambda fx, d: _localize(fx, "--view", "sideways"), "sideways"),
    _case("localize-gallery-without-locations", lambda fx, d: _localize(fx, gallery=fx.feats / "gallery.h5"), "/locations"),
    _case("localize-missing-image", lambda fx, d: _localize(fx, images=[d / "nope.jpg"]), "nope.jpg"),
    _case("localize-image-not-an-image", lambda fx, d: _localize(fx, images=[a_file(d, "text.jpg")]), "text.jpg",
          early=False),
    _case("localize-truncated-image", lambda fx, d: _localize(fx, images=[truncate(fx.panos[0], d / "cut.jpg", 0.3)]),
          "cut.jpg", early=False),
    _case("localize-checkpoint-not-checkpoint", lambda fx, d: _localize(fx, checkpoint=a_file(d, "m.pth.tar")), "m.pth.tar"),
    _case("localize-checkpoint-missing", lambda fx, d: _localize(fx, checkpoint=d / "nope.pth.tar"), "nope.pth.tar"),
    _case("localize-gallery-wrong-dims",
          lambda fx, d: _localize(fx, gallery=features_file(fx.gallery_loc, d / "g16.h5",
                                                            lambda h5: replace_dataset(h5, "features", h5["features"][:, :16]))),
          "g16.h5", early=False),
    # ------------------------------------------------------------------------------------------- synth
    _case("synth-size-0", lambda fx, d: ["xgeo", "synth", "cvusa", "--out", d / "s", "--size", 0], "--size"),
    _case("synth-size-negative", lambda fx, d: ["xgeo", "synth", "cvusa", "--out", d / "s", "--size", -5], "--size"),
    _case("synth-out-existing-file", lambda fx, d: ["xgeo", "synth", "cvusa", "--out", a_file(d), "--size", 8], "--out"),
    _case("synth-out-read-only", lambda fx, d: ["xgeo", "synth", "cvusa", "--out", READ_ONLY / "s", "--size", 8], "--out"),
    _case("synth-out-under-file", lambda fx, d: ["xgeo", "synth", "vigor", "--out", a_file(d) / "s", "--size", 8], "--out"),
    _case("synth-layout-not-cvusa", lambda fx, d: ["xgeo", "synth", "cvact", "--out", d / "s", "--size", 8, "--layout", "flat"],
          "--layout"),
    # -------------------------------------------------------------------------------------------- demo
    _case("demo-workdir-existing-file", lambda fx, d: ["xgeo", "demo", "--workdir", a_file(d)], "--workdir", timeout=90),
    _case("demo-workdir-under-file", lambda fx, d: ["xgeo", "demo", "--workdir", a_file(d) / "w"], "--workdir", timeout=90),
    _case("demo-workdir-read-only", lambda fx, d: ["xgeo", "demo", "--workdir", READ_ONLY / "w"], "--workdir", timeout=90),
    _case("demo-unknown-method", lambda fx, d: ["xgeo", "demo", "--methods", "banana"], "banana"),
]
