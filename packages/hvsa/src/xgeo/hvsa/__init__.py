"""xgeo-hvsa: HVSA (TGRS 2023) hypersphere text-image retrieval on RSITMD / RSICD, on xgeo-core.

Modules: :mod:`~xgeo.hvsa.model` (the dual encoder), :mod:`~xgeo.hvsa.kea` (key-entity
attention), :mod:`~xgeo.hvsa.text` (Bayesian GRU, skip-thoughts loader), :mod:`~xgeo.hvsa.loss`
(difficulty-weighted hinge, uniformity, learned weighting), :mod:`~xgeo.hvsa.data` (profiles,
transforms, seeded val split), :mod:`~xgeo.hvsa.task` (what core's Trainer gets),
:mod:`~xgeo.hvsa.config` (sections, presets, the original YAML keys), :mod:`~xgeo.hvsa.cli`,
:mod:`~xgeo.hvsa.run`, :mod:`~xgeo.hvsa.weights` and :mod:`~xgeo.hvsa.plugin`.
"""

__version__ = "0.1.0"

from xgeo.hvsa.kea import KEA  # noqa: E402
from xgeo.hvsa.loss import AutoWeight, HVSALoss, difficulty_weighted_hinge, feature_uniformity  # noqa: E402
from xgeo.hvsa.model import HVSA, ModelSpec  # noqa: E402

__all__ = ["HVSA", "KEA", "AutoWeight", "HVSALoss", "ModelSpec", "__version__", "difficulty_weighted_hinge", "feature_uniformity"]
