"""xgeo-lwcnn: the lightweight cross-view CNN (Yagi & Iwasaki, IGARSS 2023) on xgeo-core.

Modules: :mod:`~xgeo.lwcnn.model` (two truncated ResNet-34 branches), :mod:`~xgeo.lwcnn.attention`
(the SA module), :mod:`~xgeo.lwcnn.loss` (weighted soft-margin triplet, hard-negative schedule,
25 m mask), :mod:`~xgeo.lwcnn.data` (dataset profiles, transform), :mod:`~xgeo.lwcnn.task` (what
core's Trainer gets), :mod:`~xgeo.lwcnn.config` (sections, presets, original flags),
:mod:`~xgeo.lwcnn.cli` (console scripts), :mod:`~xgeo.lwcnn.run`, :mod:`~xgeo.lwcnn.weights` and
:mod:`~xgeo.lwcnn.plugin` (the ``xgeo.methods`` entry point).
"""

from xgeo.lwcnn.attention import MaxMapAttention, SpatialAwareAttention
from xgeo.lwcnn.loss import HardRatioSchedule, SoftMarginTripletLoss, soft_margin_triplet
from xgeo.lwcnn.model import LightCNN, ModelSpec

__version__ = "0.1.0"

__all__ = [
    "HardRatioSchedule", "LightCNN", "MaxMapAttention", "ModelSpec", "SoftMarginTripletLoss", "SpatialAwareAttention",
    "__version__", "soft_margin_triplet",
]
