"""xgeo-cmpc: CMPC (Li et al., JSTARS 2023), SAR-to-optical patch correspondence on xgeo-core.

Modules: :mod:`~xgeo.cmpc.backbone` (shared ResNet, stride-1 last stage, max pooling),
:mod:`~xgeo.cmpc.model` (embedding, critic, refiner), :mod:`~xgeo.cmpc.loss` (batch-hard triplet,
Wasserstein critic), :mod:`~xgeo.cmpc.graph` (scene graphs), :mod:`~xgeo.cmpc.gnn` (attention
GNN), :mod:`~xgeo.cmpc.refine` (candidates, refinement losses, re-ranking), :mod:`~xgeo.cmpc.data`,
:mod:`~xgeo.cmpc.task`, :mod:`~xgeo.cmpc.config`, :mod:`~xgeo.cmpc.cli`, :mod:`~xgeo.cmpc.run`,
:mod:`~xgeo.cmpc.plots` and :mod:`~xgeo.cmpc.plugin`.
"""

from xgeo.cmpc.loss import WassersteinCritic, batch_hard_triplet, cross_modal_triplet
from xgeo.cmpc.model import CMPC, ModelSpec

__version__ = "0.1.0"

__all__ = ["CMPC", "ModelSpec", "WassersteinCritic", "__version__", "batch_hard_triplet", "cross_modal_triplet"]
