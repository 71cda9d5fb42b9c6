"""xgeo-frgeo: FRGeo (AAAI 2024) for cross-view geo-localization on xgeo-core.

Modules: :mod:`~xgeo.frgeo.frm` (feature recombination), :mod:`~xgeo.frgeo.model` (two ConvNeXt
branches), :mod:`~xgeo.frgeo.loss` (weighted (B+1)-tuple loss), :mod:`~xgeo.frgeo.mining`
(memory bank and mining samplers), :mod:`~xgeo.frgeo.transforms`, :mod:`~xgeo.frgeo.config`
(presets), :mod:`~xgeo.frgeo.cli_train` / :mod:`~xgeo.frgeo.cli_eval` (console scripts) and
:mod:`~xgeo.frgeo.plugin` (the ``xgeo.methods`` entry point).
"""

from xgeo.frgeo.frm import recombine
from xgeo.frgeo.loss import WeightedTupleLoss, wbl
from xgeo.frgeo.model import FRGeo, ModelSpec

__version__ = "0.1.0"

__all__ = ["FRGeo", "ModelSpec", "WeightedTupleLoss", "__version__", "recombine", "wbl"]
