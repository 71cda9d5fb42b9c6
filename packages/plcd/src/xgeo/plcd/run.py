"""Training and test runs of PLCD's G2D and D2S models, from a resolved config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn.functional as F

from xgeo.core.datasets import University1652
from xgeo.core.errors import XgeoError
from xgeo.core.features import FeatureSet, write_features
from xgeo.core.io import write_json
from xgeo.core.presets import Config
from xgeo.core.runs import prepare_run_dir, resolve_checkpoint, say, write_split_features
from xgeo.core.train import CHECKPOINT_NAME, Trainer, embed, seed_everything
from xgeo.core.train import distributed as dist_utils
from xgeo.plcd.data import AnchorDroneSet, TestTransform, eval_views, open_test_split
from xgeo.plcd.model import ModelSpec, TwoViewNet, build_model
from xgeo.plcd.task import MODEL_VIEW, PLCDStep, evaluator, learning_rate_groups
from xgeo.plcd.weights import load_model, load_pretrained, load_teacher

METHOD_NAME = "plcd"
#: files a test run writes into its output folder
DRONE_GALLERY_FILE = "drone_gallery.h5"
TEST_METRICS_FILE = "test_metrics.json"


def teacher_checkpoint(old_name: str, model_dir: str) -> Path:
    """The teacher's final checkpoint: ``--old_name`` as a checkpoint, a run folder, or a name under ``model_dir``."""
    path = Path(old_name)
    if not path.exists():
        path = Path(model_dir) / old_name
    if path.is_dir():
        path = path / CHECKPOINT_NAME  # the last epoch, as the original's net_119 (not the test-selected best)
    return resolve_checkpoint(path, "plcd-train-g2d")


def _check_generation(config: Config, kind: str) -> None:
    loss = config.loss
    if kind == "d2s" and loss.gen:
        raise XgeoError(None, f"--gen {loss.gen}: D2S trains without distillation",
                        "use --gen 0 (the original found KD hurt D2S)")
    if loss.gen and not loss.old_name:
        raise XgeoError(None, f"--gen {loss.gen} needs a teacher", "pass --old_name NAME of the previous generation's run")
    if loss.hiera and not loss.gen:
        raise XgeoError(None, f"--hiera {loss.hiera} distils region features, which exist from generation 1",
                        "add --gen 2, or --hiera 0")


def new_model(config: Config, kind: str, num_classes: int, announce: bool = True) -> TwoViewNet:
    """A fresh student; backbones from ``--pretrained`` when given (never downloaded)."""
    m = config.model
    spec = ModelSpec(kind=kind, backbone=m.backbone, num_classes=num_classes, dim=m.dim, pool=m.pool, droprate=m.droprate,
                     regions=kind == "g2d" and config.loss.gen >= 1, size=[m.h, m.w])
    model = build_model(spec)
    if m.pretrained:
        load_pretrained(model, m.pretrained)
        say(f"both backbones initialised from {m.pretrained}")
    elif announce:
        say(f"no --pretrained checkpoint: both {m.backbone} backbones start from random weights "
            "(the paper starts from ImageNet; pass --pretrained PATH to a local ResNet checkpoint)")
    return model


def train(config: Config, kind: str) -> dict[str, Any]:
    """Train a G2D or D2S model with core's Trainer; checkpoints and metrics.json land in the run folder."""
    cfg = config.train
    if not cfg.out_dir:
        raise XgeoError(None, "no run folder given", "pass --name NAME (written to <model_dir>/NAME) or --save_path DIR")
    if not config.data.data_root:
        raise XgeoError(None, "no dataset given", "pass --data_dir pointing at your University-1652 folder")
    _check_generation(config, kind)
    prepare_run_dir(cfg.out_dir, cfg.resume, cfg.overwrite)
    teacher = load_teacher(teacher_checkpoint(config.loss.old_name, config.run.model_dir), kind) if config.loss.gen else None
    seed_everything(cfg.seed)
    data = config.data
    dataset = AnchorDroneSet(data.data_root, kind, (config.model.h, config.model.w), data.ring, data.rings)
    model = new_model(config, kind, dataset.num_classes, announce=not cfg.resume)
    hook = None
    if data.evaluate:
        views = eval_views(kind, data.gallery_drone)
        hook = evaluator(open_test_split(data.data_root, views, model.spec.size), views, data.eval_batch_size, cfg.num_workers)
    trainer = Trainer(
        model,
        dataset,
        PLCDStep(config.loss, teacher),
        cfg,
        evaluate=hook,
        identity={"method": METHOD_NAME, "kind": kind, "gen": int(config.loss.gen), "model": model.spec.to_dict()},
        param_groups=learning_rate_groups(cfg.lr, config.model.backbone_lr_scale),
    )
    if teacher is not None:
        teacher.to(trainer.device)
    return trainer.fit()


def _features(model: TwoViewNet, split: University1652, side: str, view: str, batch_size: int, device: Any,
              workers: int) -> Any:
    dataset = split.queries() if side == "query" else split.gallery()
    return F.normalize(embed(model.encoder(MODEL_VIEW[view]), dataset, batch_size, device, side, workers), dim=1)


def test(checkpoint: str | Path, kind: str, data_root: str, out_dir: str | Path, gallery_drone: str = "gallery_drone",
         batch_size: int = 16, workers: int = 0, device: str = "auto") -> dict[str, Any]:
    """Extract test features (image + flip, normalised) into ``out_dir`` and score them.

    G2D: ``query.h5`` (query_street, ground branch) and ``gallery.h5`` (the drone gallery, drone branch).
    D2S: ``query.h5`` (query_drone) and ``gallery.h5`` (gallery_satellite), plus ``drone_gallery.h5``: the
    drone gallery in D2S space, for ``plcd-diffuse``."""
    if Path(checkpoint).is_dir():
        checkpoint = Path(checkpoint) / CHECKPOINT_NAME  # the last epoch, as the original tests net_119
    checkpoint = resolve_checkpoint(checkpoint, f"plcd-train-{kind}")
    model = load_model(checkpoint)
    if model.spec.kind != kind:
        raise XgeoError(checkpoint, f"a {model.spec.kind.upper()} checkpoint", f"pass a run of plcd-train-{kind}")
    info, dev = dist_utils.setup(device)
    model.to(dev).eval()
    views = eval_views(kind, gallery_drone)
    split = open_test_split(data_root, views, model.spec.size)
    query = _features(model, split, "query", views.query, batch_size, dev, workers)
    gallery = _features(model, split, "gallery", views.gallery, batch_size, dev, workers)
    metrics = evaluator(split, views, batch_size).metrics(query, gallery)
    result: dict[str, Any] = {"checkpoint": str(checkpoint), "kind": kind, "queries": split.task.num_queries,
                              "gallery": split.task.num_gallery, "gallery_drone": gallery_drone, **metrics}
    out_dir = Path(out_dir)
    if info.is_main:
        qpath, gpath = write_split_features(out_dir, query, gallery, split.task, METHOD_NAME,
                                            views=(MODEL_VIEW[views.query], MODEL_VIEW[views.gallery]))
        result["query_features"], result["gallery_features"] = str(qpath), str(gpath)
    if kind == "d2s":
        drones = University1652(data_root, "test", transforms=TestTransform(model.spec.size), query="satellite",
                                gallery="drone", gallery_folder=gallery_drone)
        feats = _features(model, drones, "gallery", "drone", batch_size, dev, workers)
        if info.is_main:
            path = out_dir / DRONE_GALLERY_FILE
            write_features(path, FeatureSet.from_task(feats.numpy(), drones.task, side="gallery", view="drone",
                                                      method=METHOD_NAME, normalized=True))
            result["drone_gallery_features"] = str(path)
    if info.is_main:
        write_json(out_dir / TEST_METRICS_FILE, result)
    return result
