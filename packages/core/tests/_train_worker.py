"""Tiny training runs for the trainer tests, importable and runnable as a script (also under torchrun).

python _train_worker.py OUT_DIR [--resume] [--sleep S] [--final PATH] [--ddp-check PATH] [--mode kill|ddp]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import Dataset

from xgeo.core.train import StepOutput, TrainConfig, Trainer, embed


class Regression(Dataset):
    """``n`` noisy samples of a fixed linear map; ``noise`` draws from the global torch RNG per item."""

    def __init__(self, n: int = 48, dim: int = 4, noise: float = 0.0) -> None:
        g = torch.Generator().manual_seed(1234)
        self.x = torch.randn(n, dim, generator=g)
        self.y = self.x @ torch.linspace(-1.0, 1.0, dim) + 0.1 * torch.randn(n, generator=g)
        self.noise = noise

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        x = self.x[i]
        if self.noise:
            x = x + self.noise * torch.randn_like(x)
        return {"x": x, "y": self.y[i], "index": i}


class BankSampler(torch.utils.data.Sampler):
    """A stateful sampler in the style of a mining sampler: the epoch's order depends on a memory bank.

    ``set_epoch`` builds the global order from the bank (updated after each step), so a resumed run
    only reproduces the order if the stored index list comes back from the checkpoint.
    """

    def __init__(self, n: int, rank: int = 0, world_size: int = 1, seed: int = 7) -> None:
        self.n, self.rank, self.world_size, self.seed = n, rank, world_size, seed
        self.bank = torch.zeros(n)
        self.epoch = -1
        self.indices = torch.arange(n)
        self.set_epoch_calls: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.set_epoch_calls.append(epoch)
        self.epoch = epoch
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))
        self.indices = perm[torch.argsort(-self.bank[perm], stable=True)]

    def update(self, index: torch.Tensor, values: torch.Tensor) -> None:
        self.bank[index.cpu()] = values.detach().cpu().float()

    def __iter__(self):
        per = len(self)
        return iter(self.indices[self.rank :: self.world_size][:per].tolist())

    def __len__(self) -> int:
        return self.n // self.world_size

    def state_dict(self) -> dict:
        return {"bank": self.bank.clone(), "epoch": self.epoch, "indices": self.indices.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.bank = state["bank"].clone()
        self.epoch = int(state["epoch"])
        self.indices = state["indices"].clone()


def make_model(dropout: float = 0.0, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(dropout), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def regression_step(model: torch.nn.Module, batch: dict) -> StepOutput:
    pred = model(batch["x"]).squeeze(-1)
    per_sample = (pred - batch["y"]) ** 2
    return StepOutput(per_sample.mean(), {"mae": (pred - batch["y"]).abs().mean().item()}, per_sample.detach())


def kill_config(out: str, resume: bool) -> TrainConfig:
    """The run of the SIGKILL test: ASAM over AdamW, per-step cosine with warm-up, dropout, noisy data."""
    return TrainConfig(
        out_dir=out,
        epochs=3,
        batch_size=8,
        lr=5e-3,
        optimizer="adamw",
        weight_decay=0.01,
        sam="asam",
        rho=0.5,
        schedule="cosine",
        schedule_unit="step",
        warmup_epochs=0.5,
        grad_clip=1.0,
        seed=3,
        checkpoint_every=1,
        log_every=1,
        progress=False,
        resume=out if resume else None,
    )


def run_kill(out: str, resume: bool, sleep: float, final: str | None) -> None:
    dataset = Regression(48, noise=0.05)
    sampler = BankSampler(len(dataset))

    def on_step_end(trainer: Trainer, batch: dict, out_: StepOutput) -> None:
        sampler.update(batch["index"], out_.outputs)
        if sleep:
            time.sleep(sleep)

    trainer = Trainer(
        make_model(dropout=0.2), dataset, regression_step, kill_config(out, resume), sampler=sampler, on_step_end=on_step_end
    )
    trainer.fit()
    if final:
        torch.save(
            {"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict(), "bank": sampler.bank}, final
        )


def ddp_config(out: str) -> TrainConfig:
    """The run of the DDP test: global batch 8, SGD with momentum, no randomness in the model."""
    return TrainConfig(
        out_dir=out,
        epochs=2,
        batch_size=8,
        lr=0.05,
        optimizer="sgd",
        momentum=0.9,
        sam="sam",
        rho=0.05,
        schedule="cosine",
        seed=5,
        progress=False,
        log_every=1,
    )


def ddp_trainer(out: str) -> tuple[Trainer, list[torch.Tensor]]:
    """The DDP test's trainer; its evaluate hook embeds a probe set (11 items) and records the features."""
    dataset = Regression(32)
    probe = Regression(11)
    seen: list[torch.Tensor] = []

    def evaluate(trainer: Trainer) -> dict[str, float]:
        feats = embed(lambda x: torch.stack([x[:, 0] * 2.0, x.sum(1)], 1), probe, batch_size=2, device=trainer.device, key="x")
        seen.append(feats)
        preds = embed(trainer.model, probe, batch_size=4, device=trainer.device, key="x")
        return {"R@1": -float(((preds.squeeze(1) - probe.y) ** 2).mean())}

    return Trainer(make_model(), dataset, regression_step, ddp_config(out), evaluate=evaluate), seen


def run_ddp(out: str, final: str | None, check: str | None) -> None:
    trainer, seen = ddp_trainer(out)
    trainer.fit()
    if final and trainer.is_main:
        torch.save(trainer.model.state_dict(), final)
    if check:
        torch.save({"rank": trainer.rank, "world_size": trainer.world_size, "embedded": seen}, f"{check}.{trainer.rank}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--mode", choices=("kill", "ddp"), default="kill")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--final")
    parser.add_argument("--ddp-check")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.mode == "kill":
        run_kill(args.out, args.resume, args.sleep, args.final)
    else:
        run_ddp(args.out, args.final, args.ddp_check)


if __name__ == "__main__":
    main()
