"""xgeo-frgeo: FRGeo (AAAI 2024) for cross-view geo-localization on xgeo-core.

Modules: :mod:`~xgeo.frgeo.model` (two ConvNeXt branches), :mod:`~xgeo.frgeo.frm` (feature
recombination), :mod:`~xgeo.frgeo.loss` (weighted (B+1)-tuple loss), :mod:`~xgeo.frgeo.data`
(dataset profiles, transform, samplers), :mod:`~xgeo.frgeo.mining` (memory bank and mining
samplers), :mod:`~xgeo.frgeo.task` (what core's Trainer gets), :mod:`~xgeo.frgeo.config`
(sections, presets, original flags), :mod:`~xgeo.frgeo.cli` (console scripts),
:mod:`~xgeo.frgeo.run`, :mod:`~xgeo.frgeo.weights` and :mod:`~xgeo.frgeo.plugin` (the
``xgeo.methods`` entry point).
"""

from xgeo.frgeo.frm import recombine
from xgeo.frgeo.loss import WeightedTupleLoss, wbl
from xgeo.frgeo.model import FRGeo, ModelSpec

__version__ = "0.1.0"

__all__ = ["FRGeo", "ModelSpec", "WeightedTupleLoss", "__version__", "recombine", "wbl"]
