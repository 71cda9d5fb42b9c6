"""Bad-input cases for ``frgeo-train`` and ``frgeo-eval``.

Every frgeo-train case starts from a tiny valid command line (demo preset, synthetic CVUSA of size
8, one epoch, one step) and breaks one thing, so that an unrefused bad value trains for one step
at most.
"""

from __future__ import annotations

from pathlib import Path

from probe_fixtures import (
    READ_ONLY,
    Case,
    Fixtures,
    a_file,
    copy_file,
    copy_tree,
    nan_checkpoint,
    pickle_payload,
    truncate,
    yaml_file,
)

NO_WEIGHTS_ONLY = ("weights_only=False",)


def _train(*extra, **kw):
    """Setup: the tiny valid training run into ``<case>/run`` plus ``extra`` flags."""
    return lambda fx, d: fx.train_argv(d / "run", *extra, **kw)


def _flag(name: str, flag: str, value, *mention) -> Case:
    return Case(name, _train(flag, value), (flag, *mention))


def _preset(name: str, mention: tuple, **yaml_kw) -> Case:
    return Case(name, lambda fx, d: fx.train_argv(d / "run", "--config", yaml_file(d, **yaml_kw)), ("preset.yaml", *mention))


def _data_copy(fx: Fixtures, d: Path) -> Path:
    return copy_tree(fx.cvusa, d / "data")


def _bad_split(text: str):
    def setup(fx: Fixtures, d: Path) -> list:
        data = _data_copy(fx, d)
        split = data / "splits" / "train-19zl.csv"
        split.write_text(text(split.read_text()))
        return fx.train_argv(d / "run", data=data)

    return setup


def _truncated_image(fx: Fixtures, d: Path) -> list:
    data = _data_copy(fx, d)
    first = (data / "splits" / "train-19zl.csv").read_text().splitlines()[0].split(",")
    pano = data / first[1]
    truncate(pano, pano, 0.3)
    return fx.train_argv(d / "run", data=data)


def _resume(make):
    """Setup: train with ``--resume <make(fx, d)>``."""
    return lambda fx, d: fx.train_argv(d / "run", "--resume", make(fx, d))


def _old_checkpoint(fx: Fixtures, d: Path) -> Path:
    return copy_file(fx.run / "checkpoint.pth.tar", d / "old" / "checkpoint.pth.tar")


def _resume_other_dataset(fx: Fixtures, d: Path) -> list:
    return fx.train_argv(d / "run", "--resume", _old_checkpoint(fx, d), dataset="cvact")


def _eval(fx: Fixtures, d: Path, *extra, checkpoint=None, dataset="cvusa", data=None) -> list:
    return ["frgeo-eval", "--checkpoint", checkpoint or fx.ckpt, "--data-root", data or getattr(fx, dataset),
            "--dataset", dataset, "-b", 8, "--out", d / "out", *extra]


CASES: list[Case] = [
    # ----------------------------------------------------------------------------- controls (must work)
    Case("ok-train-max-steps-1", _train(), expect="succeed", outputs=("run/metrics.json",)),
    Case("train-max-steps-1-of-2-epochs", _train("--epochs", 2), expect="succeed", outputs=("run/metrics.json",)),
    Case("ok-frgeo-eval", lambda fx, d: _eval(fx, d), expect="succeed", outputs=("out/query.h5", "out/gallery.h5")),
    # ------------------------------------------------------------------------------- output locations
    Case("train-finished-run-without-resume", lambda fx, d: fx.train_argv(copy_tree(fx.run, d / "run")),
         ("--resume", "--overwrite")),
    Case("train-save-path-read-only", lambda fx, d: fx.train_argv(READ_ONLY / "run"), ("--save_path",)),
    Case("train-save-path-existing-file", lambda fx, d: fx.train_argv(a_file(d)), ("--save_path",)),
    Case("train-save-path-under-file", lambda fx, d: fx.train_argv(a_file(d) / "run"), ("--save_path",)),
    Case("train-no-save-path", lambda fx, d: [a for a in fx.train_argv("x") if a not in ("--save_path", "x")],
         ("--save_path",)),
    # ---------------------------------------------------------------------------------- option values
    _flag("train-lr-nan", "--lr", "nan"),
    _flag("train-lr-negative", "--lr", -1),
    _flag("train-lr-inf", "--lr", "inf"),
    _flag("train-eval-batch-size-0", "--eval-batch-size", 0),
    _flag("train-batch-size-0", "-b", 0),
    _flag("train-batch-size-1", "-b", 1),
    _flag("train-top-k-0", "--top-k", 0),
    _flag("train-pool-size-0", "--pool-size", 0),
    _flag("train-epochs-0", "--epochs", 0),
    _flag("train-max-steps-0", "--max-steps", 0),
    _flag("train-workers-negative", "--workers", -1),
    _flag("train-device-banana", "--device", "banana"),
    _flag("train-device-cuda7", "--device", "cuda:7", "cuda"),
    _flag("train-gpu-7", "--gpu", 7),
    _flag("train-rho-negative", "--rho", -1),
    _flag("train-alpha-nan", "--alpha", "nan"),
    _flag("train-wd-negative", "--wd", -0.5),
    _flag("train-print-freq-0", "--print-freq", 0),
    _flag("train-checkpoint-every-negative", "--checkpoint-every", -1),
    _flag("train-local-batch-0", "--local-batch", 0),
    _flag("train-fov-400", "--fov", 400),
    _flag("train-mining-start-negative", "--mining-start", -1),
    _flag("train-dim-7", "--dim", 7),
    Case("train-ground-size-0", _train("--ground-size", 0, 0), ("--ground-size",)),
    # ------------------------------------------------------------------------------------ YAML presets
    _preset("train-yaml-lr-string", ("lr",), set_keys={"lr": '"fast"'}),
    _preset("train-yaml-batch-size-0", ("batch_size",), set_keys={"batch_size": "0"}),
    _preset("train-yaml-epochs-list", ("epochs",), set_keys={"epochs": "[1, 2]"}),
    _preset("train-yaml-unknown-keys", ("learning_rate",), set_keys={"learning_rate": "0.1", "btach_size": "4"}),
    _preset("train-yaml-python-tag", (), text="lr: !!python/object/apply:os.system ['touch PWNED']\n"),
    _preset("train-yaml-list", (), text="- lr: 0.1\n- epochs: 1\n"),
    _preset("train-yaml-empty", (), text=""),
    _preset("train-yaml-syntax-error", (), text="lr: [0.1\nepochs: 1\n"),
    Case("train-config-missing-file", _train("--config", "nope.yaml"), ("nope.yaml",)),
    Case("train-config-unknown-preset", _train("--config", "banana"), ("banana",)),
    # ------------------------------------------------------------------------------------------- data
    Case("train-missing-data-root", lambda fx, d: [a for a in fx.train_argv(d / "run") if a not in ("--data-root", fx.cvusa)],
         ("--data-root",)),
    Case("train-data-root-does-not-exist", lambda fx, d: fx.train_argv(d / "run", data=d / "nope"), ("nope",)),
    Case("train-data-root-is-file", lambda fx, d: fx.train_argv(d / "run", data=a_file(d)), ("afile",)),
    Case("train-split-malformed", _bad_split(lambda t: t + "this line,is not\ngarbage\n"), ("train-19zl.csv",), early=False),
    Case("train-split-empty", _bad_split(lambda t: ""), ("train-19zl.csv",), early=False),
    Case("train-split-missing-image", _bad_split(lambda t: "bingmap/19/0.jpg,streetview/panos/0.jpg,x.png\n" + t),
         ("0.jpg",), early=False),
    Case("train-truncated-image", _truncated_image, (".jpg",), early=False),
    # ----------------------------------------------------------------------------------------- resume
    Case("train-resume-other-dataset", _resume_other_dataset, ("--dataset",)),
    Case("train-resume-not-checkpoint", _resume(lambda fx, d: a_file(d, "ckpt.pth.tar")), ("ckpt.pth.tar",)),
    Case("train-resume-truncated", _resume(lambda fx, d: truncate(fx.run / "checkpoint.pth.tar", d / "cut.pth.tar")),
         ("cut.pth.tar",)),
    Case("train-resume-pickle-payload", _resume(lambda fx, d: pickle_payload(d / "evil.pth.tar", d / "PWNED")),
         ("evil.pth.tar",), forbid=("PWNED",)),
    Case("train-resume-nan-weights",
         _resume(lambda fx, d: nan_checkpoint(fx.run / "checkpoint.pth.tar", d / "nan.pth.tar")), ("nan.pth.tar",)),
    Case("train-resume-missing", _resume(lambda fx, d: d / "nope.pth.tar"), ("nope.pth.tar",)),
    Case("train-resume-empty-folder", _resume(lambda fx, d: (d / "empty").mkdir() or d / "empty"), ("empty",)),
    Case("train-evaluate-without-checkpoint", lambda fx, d: fx.train_argv((d / "e").mkdir() or d / "e", "-e"),
         ("checkpoint",)),
    # ------------------------------------------------------------------------------------- frgeo-eval
    Case("eval-missing-checkpoint", lambda fx, d: _eval(fx, d, checkpoint=d / "nope.pth.tar"), ("nope.pth.tar",)),
    Case("eval-folder-without-checkpoints", lambda fx, d: _eval(fx, d, checkpoint=(d / "e").mkdir() or d / "e"), ("e",)),
    Case("eval-checkpoint-not-checkpoint", lambda fx, d: _eval(fx, d, checkpoint=a_file(d, "m.pth.tar")), ("m.pth.tar",)),
    Case("eval-checkpoint-truncated",
         lambda fx, d: _eval(fx, d, checkpoint=truncate(fx.ckpt, d / "cut.pth.tar")), ("cut.pth.tar",)),
    Case("eval-checkpoint-pickle-payload",
         lambda fx, d: _eval(fx, d, checkpoint=pickle_payload(d / "evil.pth.tar", d / "PWNED")), ("evil.pth.tar",),
         forbid=("PWNED",)),
    Case("eval-checkpoint-nan-weights", lambda fx, d: _eval(fx, d, checkpoint=nan_checkpoint(fx.ckpt, d / "nan.pth.tar")),
         ("nan.pth.tar",)),
    Case("eval-out-is-file", lambda fx, d: [*_eval(fx, d)[:-2], "--out", a_file(d)], ("--out",)),
    Case("eval-out-read-only", lambda fx, d: [*_eval(fx, d)[:-2], "--out", READ_ONLY / "o"], ("--out",)),
    Case("eval-out-under-file", lambda fx, d: [*_eval(fx, d)[:-2], "--out", a_file(d) / "o"], ("--out",)),
    Case("eval-batch-size-0", lambda fx, d: _eval(fx, d, "-b", 0), ("-b",)),
    Case("eval-workers-negative", lambda fx, d: _eval(fx, d, "-j", -1), ("-j",)),
    Case("eval-device-banana", lambda fx, d: _eval(fx, d, "--device", "banana"), ("--device",)),
    Case("eval-wrong-dataset", lambda fx, d: _eval(fx, d, dataset="cvact"), ("--dataset",)),
    Case("eval-unknown-split", lambda fx, d: _eval(fx, d, "--split", "banana"), ("banana",)),
    Case("eval-dim-mismatch", lambda fx, d: _eval(fx, d, "--dim", 7), ("--dim",)),
    Case("eval-data-root-missing", lambda fx, d: _eval(fx, d, data=d / "nope"), ("nope",)),
]
