"""xgeo's one training loop: :class:`Trainer` (DDP, SAM/ASAM, AMP, schedules, resumable checkpoints) and
:func:`embed` (distributed feature extraction in dataset order)."""

from xgeo.core.train.checkpoint import BEST_NAME, CHECKPOINT_NAME
from xgeo.core.train.config import StepOutput, TrainConfig
from xgeo.core.train.distributed import all_gather_rows
from xgeo.core.train.embed import embed
from xgeo.core.train.rng import seed_everything
from xgeo.core.train.sam import SAM
from xgeo.core.train.trainer import Trainer

__all__ = [
    "BEST_NAME", "CHECKPOINT_NAME", "SAM", "StepOutput", "TrainConfig", "Trainer", "all_gather_rows", "embed", "seed_everything",
]
