"""xgeo's one training loop: :class:`Trainer` (DDP, SAM/ASAM, AMP, schedules, resumable checkpoints) and
:func:`embed` (distributed feature extraction in dataset order)."""

from xgeo.core.train.config import StepOutput, TrainConfig
from xgeo.core.train.embed import embed
from xgeo.core.train.rng import seed_everything
from xgeo.core.train.sam import SAM
from xgeo.core.train.trainer import Trainer

__all__ = ["SAM", "StepOutput", "TrainConfig", "Trainer", "embed", "seed_everything"]
