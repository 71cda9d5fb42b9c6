"""Randomness of a training run: global RNG states survive a checkpoint, the shuffle follows
``config.seed`` and the epoch, and per-item augmentations change from one epoch to the next."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, SequentialSampler

from xgeo.core.io import load_torch, save_torch
from xgeo.core.train import TrainConfig, Trainer
from xgeo.core.train.data import epoch_loader
from xgeo.core.train.rng import capture_rng_state, restore_rng_state

_spec = importlib.util.spec_from_file_location("_train_worker", Path(__file__).with_name("_train_worker.py"))
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)  # type: ignore[union-attr]


def _draws() -> tuple:
    """One draw from every global generator, including the cached second normal of each Box-Muller pair."""
    return (random.random(), random.gauss(0, 1), random.getrandbits(64), np.random.rand(3).tolist(),
            float(np.random.standard_normal()), np.random.randint(0, 2**31, 4).tolist(), torch.rand(3).tolist())


def test_capture_then_restore_covers_python_numpy_and_torch(tmp_path: Path) -> None:
    random.seed(11)
    np.random.seed(12)
    torch.manual_seed(13)
    random.gauss(0, 1)  # leave a cached gaussian in both Python and NumPy
    np.random.standard_normal()
    state = capture_rng_state()
    save_torch({"rng": state}, tmp_path / "rng.pt")  # the checkpoint path: weights_only round trip
    first = _draws()
    _draws()  # move every generator on
    restore_rng_state(load_torch(tmp_path / "rng.pt")["rng"])
    assert _draws() == first
    # each generator on its own: restoring puts back exactly that generator's stream
    restore_rng_state(state)
    expected = (random.random(), float(np.random.random()), float(torch.rand(1)))
    restore_rng_state(state)
    random.random(), random.random()
    restore_rng_state(state)
    assert (random.random(), float(np.random.random()), float(torch.rand(1))) == expected


def _trainer(out: Path, seed: int) -> Trainer:
    cfg = TrainConfig(out_dir=str(out), epochs=1, batch_size=8, seed=seed, progress=False)
    return Trainer(worker.make_model(), worker.Regression(40), worker.regression_step, cfg)


def test_distributed_sampler_order_follows_the_config_seed(tmp_path: Path) -> None:
    def order(seed: int, epoch: int = 0) -> list[int]:
        sampler = _trainer(tmp_path / f"s{seed}", seed).sampler
        sampler.set_epoch(epoch)
        return list(sampler)

    a, b = order(1), order(2)
    assert sorted(a) == sorted(b) == list(range(40))
    assert a != b  # another seed, another shuffle
    assert order(1) == a  # the same seed, the same shuffle
    assert order(1, epoch=1) != a  # and the epoch changes it too
    assert a == torch.randperm(40, generator=torch.Generator().manual_seed(1)).tolist()  # DistributedSampler's rule


class RandomAugment(Dataset):
    """Every item draws its 'augmentation' from the global generators of the process that loads it."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        return {"index": i, "torch": torch.rand(()), "numpy": float(np.random.rand()), "python": random.random()}


def _augmentations(epoch: int, seed: int = 3) -> dict[int, tuple]:
    """Per-index augmentations of one epoch, fetched the way a worker process fetches them."""
    dataset = RandomAugment()
    loader = epoch_loader(dataset, SequentialSampler(dataset), 4, epoch=epoch, skip=0, seed=seed, rank=0, num_workers=1)
    out = {}
    for batch in loader.batch_sampler:  # in this process: the worker's per-item seeding without a worker
        for item in batch:
            row = loader.dataset[item]
            out[row["index"]] = (float(row["torch"]), row["numpy"], row["python"])
    return out


def test_data_loader_seed_changes_with_the_epoch() -> None:
    first, again, second = _augmentations(0), _augmentations(0), _augmentations(1)
    assert first == again  # reproducible within an epoch
    for i in range(8):
        assert all(a != b for a, b in zip(first[i], second[i])), i  # every generator moved on with the epoch
    assert _augmentations(0, seed=4) != first  # and with the seed


def test_worker_process_augmentations_match_and_change_with_the_epoch() -> None:
    def fetched(epoch: int) -> list[float]:
        dataset = RandomAugment()
        loader = epoch_loader(dataset, SequentialSampler(dataset), 4, epoch=epoch, skip=0, seed=3, rank=0, num_workers=1)
        return [float(v) for batch in loader for v in batch["torch"]]

    zero = fetched(0)
    assert zero == [_augmentations(0)[i][0] for i in range(8)]
    assert zero != fetched(1)
