"""Training (three seeded runs, averaged test results), evaluation and free-text search with HVSA."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xgeo.core.datasets import CaptionSplit
from xgeo.core.errors import XgeoError
from xgeo.core.io import read_json, write_json
from xgeo.core.presets import Config
from xgeo.core.runs import RUN_FILES, prepare_run_dir, resolve_checkpoint, say, write_split_features
from xgeo.core.train import BEST_NAME, CHECKPOINT_NAME, Trainer, seed_everything
from xgeo.core.train import distributed as dist_utils
from xgeo.hvsa.data import PROFILES, HVSATransform, open_split, run_vocabulary, split_images
from xgeo.hvsa.loss import Curriculum, HVSALoss
from xgeo.hvsa.model import HVSA, ModelSpec, build_model
from xgeo.hvsa.task import EveryNEpochs, HVSAStep, evaluator
from xgeo.hvsa.text import load_skipthoughts
from xgeo.hvsa.weights import load_model, load_pretrained_backbone

METHOD_NAME = "hvsa"
SUMMARY_FILE = "test_metrics.json"
METRIC_KEYS = ("i2t_R@1", "i2t_R@5", "i2t_R@10", "t2i_R@1", "t2i_R@5", "t2i_R@10", "rsum", "mR")


def format_text_metrics(metrics: dict[str, Any]) -> str:
    """``i2t_R@1 12.34  ...  mR 20.00`` for the keys present."""
    return "  ".join(f"{k} {float(metrics[k]):.2f}" for k in METRIC_KEYS if k in metrics)


def run_dirs(config: Config) -> list[Path]:
    """One folder per seeded run under ``train.out_dir``."""
    return [Path(config.train.out_dir) / f"run{k}" for k in range(config.run.runs)]


def new_model(config: Config, vocab_words: dict[str, int], announce: bool = True) -> HVSA:
    """A fresh model; ResNet / skip-thought weights only from local files the user names."""
    m = config.model
    spec = ModelSpec(word2idx=dict(vocab_words), backbone=m.backbone, image_size=int(m.image_size), word_dim=int(m.word_dim),
                     hidden_dim=int(m.hidden_dim), embed_dim=int(m.embed_dim), dropout=float(m.dropout),
                     fixed_emb=bool(m.fixed_emb), kea_units=int(m.kea_units), kea_tied=bool(m.kea_tied),
                     dataset=config.data.dataset)
    model = build_model(spec)
    if m.pretrained:
        load_pretrained_backbone(model, m.pretrained)
    elif announce:
        say(f"no --pretrained checkpoint: {m.backbone} starts from random weights (the paper starts from ImageNet)")
    text = m.pretrained_text or (m.dir_st if m.dir_st and Path(m.dir_st).is_dir() else None)
    if text:
        found = load_skipthoughts(model.text_encoder, model.vocab, text)
        if announce:
            say(f"text encoder from skip-thoughts in {text} ({found} of {len(model.vocab)} words found)")
    elif announce:
        say("no --pretrained-text folder: the text encoder (embeddings + GRU) starts from random weights "
            "(the paper starts from skip-thoughts' uni-skip)")
    return model


def _check_start(config: Config) -> list[int]:
    cfg, run = config.train, config.run
    if not cfg.out_dir:
        raise XgeoError(None, "no output folder given", "pass --save-path DIR (runs and test_metrics.json go there)")
    if len(run.seeds) < run.runs:
        raise XgeoError(None, f"{run.runs} runs but only {len(run.seeds)} seeds", "list one seed per run (--seeds)")
    summary = Path(cfg.out_dir) / SUMMARY_FILE
    if summary.exists() and not cfg.overwrite:
        raise XgeoError(summary, "a finished HVSA experiment is here", "pass --overwrite or another --save-path")
    for folder in run_dirs(config):
        prepare_run_dir(folder, None, cfg.overwrite)
    if config.data.vocab and not Path(config.data.vocab).is_file():
        raise XgeoError(config.data.vocab, "vocabulary file not found", "pass an AMFMN *_splits_vocab.json or leave --vocab out")
    if config.model.pretrained_text and not Path(config.model.pretrained_text).is_dir():
        raise XgeoError(config.model.pretrained_text, "skip-thoughts folder not found",
                        "pass a folder with dictionary.txt, utable.npy, uni_skip.npz")
    return [int(s) for s in run.seeds[: run.runs]]


def train(config: Config) -> dict[str, Any]:
    """Three (``run.runs``) seeded runs, each on its own image-level train/val split, selecting its best
    rsum checkpoint on val; then each best checkpoint on the test split; the mean is returned."""
    cfg, data = config.train, config.data
    seeds = _check_start(config)
    full = open_split(data, "train")
    test = open_split(data, PROFILES.get(data.dataset).eval_split)
    vocab = run_vocabulary(data, full)
    say(PROFILES.get(data.dataset).selection)
    size = int(config.model.image_size)
    results: list[dict[str, Any]] = []
    for k, (seed, folder) in enumerate(zip(seeds, run_dirs(config), strict=True)):
        seed_everything(seed)
        train_idx, val_idx = split_images(full.num_images, data.val_ratio, seed)
        train_split, val_split = full.subset(train_idx), full.subset(val_idx, "val")
        if data.cache_images:
            train_split.load_query = functools.lru_cache(maxsize=None)(train_split.load_query)  # type: ignore[method-assign]
        train_split.transforms, val_split.transforms = HVSATransform(size, True, data.max_rotation), HVSATransform(size)
        say(f"run {k + 1}/{len(seeds)} (seed {seed}): {train_split.num_images} train / {val_split.num_images} val images")
        model = new_model(config, vocab.word2idx, announce=k == 0)
        loss = HVSALoss(config.loss.alpha, config.loss.gamma, Curriculum(
            config.loss.curriculum, config.loss.beta, config.loss.beta_start, config.loss.beta_end, config.loss.pace_epochs),
            weighting=config.loss.weighting)
        trainer = Trainer(
            model, train_split, HVSAStep(loss), dataclasses.replace(cfg, out_dir=str(folder), seed=seed),
            evaluate=EveryNEpochs(evaluator(val_split, data.eval_batch_size, cfg.num_workers), config.run.eval_step),
            identity={"method": METHOD_NAME, "dataset": data.dataset, "seed": seed, "model": model.spec.to_dict()},
        )
        loss.epoch = lambda trainer=trainer: trainer.epoch
        trainer.fit()
        best = folder / BEST_NAME if (folder / BEST_NAME).is_file() else folder / CHECKPOINT_NAME
        result = evaluate_checkpoint(best, test, config, folder / "features-test")
        say(f"run {k + 1} test: {format_text_metrics(result)}")
        results.append(result)
    return write_summary(Path(cfg.out_dir), seeds, results)


def write_summary(out_dir: Path, seeds: Sequence[int], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Average the runs' test metrics; ``test_metrics.json`` holds each run and the mean."""
    mean = {k: float(np.mean([r[k] for r in results])) for k in METRIC_KEYS if all(k in r for r in results)}
    dist_utils.barrier()
    if dist_utils.process_info().is_main:
        write_json(out_dir / SUMMARY_FILE, {"seeds": list(seeds), "runs": results, "mean": mean})
    return mean


def evaluate_checkpoint(checkpoint: str | Path, split: CaptionSplit, config: Config, out_dir: str | Path) -> dict[str, Any]:
    """Test metrics of a checkpoint on ``split``; image and caption features and ``eval_metrics.json`` go to ``out_dir``."""
    checkpoint = resolve_checkpoint(checkpoint, "hvsa-train")
    model, _ = load_model(checkpoint)
    split.transforms = HVSATransform(model.spec.image_size)
    info, device = dist_utils.setup(config.train.device)
    model.to(device).eval()
    hook = evaluator(split, config.data.eval_batch_size, config.train.num_workers)
    images, texts = hook.features(model, device)
    metrics = hook.metrics(images, texts)
    result: dict[str, Any] = {"checkpoint": str(checkpoint), "dataset": split.name, "split": split.split,
                              "images": split.num_images, "captions": len(split.captions), **metrics}
    if info.is_main:
        ipath, tpath = write_split_features(out_dir, images, texts, split.task, METHOD_NAME, views=("image", "text"))
        write_json(Path(out_dir) / "eval_metrics.json", result)
        result["image_features"], result["caption_features"] = str(ipath), str(tpath)
    result["examples"] = examples(images, texts, split, config.run.examples)
    return result


def examples(images: torch.Tensor, texts: torch.Tensor, split: CaptionSplit, count: int, top: int = 3) -> list[str]:
    """Text lines: a few sentences → their top images, a few images → their top sentences."""
    if count <= 0:
        return []
    sims = images @ texts.t()
    lines: list[str] = []
    for c in range(0, min(len(split.captions), 5 * count), 5):
        best = torch.topk(sims[:, c], min(top, len(split.image_names))).indices.tolist()
        marks = [f"{split.image_names[i]}{' (true)' if i == c // 5 else ''}" for i in best]
        lines.append(f'"{split.captions[c]}" -> {", ".join(marks)}')
    for i in range(min(count, split.num_images)):
        best = torch.topk(sims[i], min(top, len(split.captions))).indices.tolist()
        marks = [f'"{split.captions[c]}"{" (true)" if c // 5 == i else ""}' for c in best]
        lines.append(f"{split.image_names[i]} -> {'; '.join(marks)}")
    return lines


def evaluate_runs(config: Config) -> dict[str, Any]:
    """``hvsa-eval --config``: each run's best checkpoint on the test split, then the mean (as eval.py)."""
    data = config.data
    test = open_split(data, PROFILES.get(data.dataset).eval_split)
    folders = run_dirs(config)
    missing = [f for f in folders if not any((f / n).is_file() for n in RUN_FILES)]
    if missing:
        raise XgeoError(missing[0], "no checkpoint of this run", "train first with hvsa-train and the same --config/--save-path")
    results = [evaluate_checkpoint(f, test, config, f / "features-test") for f in folders]
    return {"runs": results, "mean": write_summary(Path(config.train.out_dir), config.run.seeds[: config.run.runs], results)}


def search(sentences: Sequence[str], checkpoint: str | Path, gallery: str | Path,
           top_k: int = 5) -> list[list[tuple[str, float]]]:
    """For each sentence, the ``top_k`` (image id, cosine) of an image feature file."""
    from xgeo.core.features import read_features
    from xgeo.core.retrieval import search as knn

    fs = read_features(gallery)
    if not len(fs.ids):
        raise XgeoError(gallery, "the gallery feature file has no rows", "write image features with hvsa-eval")
    if fs.view and fs.view != "image":
        raise XgeoError(gallery, f"holds {fs.view!r} features, not images", "pass the image features (query.h5) of hvsa-eval")
    model, _ = load_model(resolve_checkpoint(checkpoint, "hvsa-train"))
    if fs.dim != model.dim:
        raise XgeoError(gallery, f"features have {fs.dim} dims, the checkpoint {model.dim}",
                        "use features of the same checkpoint")
    with torch.no_grad():
        queries = torch.nn.functional.normalize(model.encode_sentences(list(sentences)), dim=1).numpy()
    scores, indices = knn(queries, fs.features, k=min(top_k, len(fs.ids)), similarity="cosine")
    return [[(str(fs.ids[j]), float(s)) for s, j in zip(np.asarray(srow), np.asarray(irow), strict=True)]
            for srow, irow in zip(scores, indices, strict=True)]


def read_summary(out_dir: str | Path) -> dict[str, Any]:
    """The ``test_metrics.json`` of an experiment folder."""
    return read_json(Path(out_dir) / SUMMARY_FILE)
