"""xgeo-plcd: ground-drone (G2D) and drone-satellite (D2S) models, progressive learning, cross-diffusion."""

__version__ = "0.1.0"

from xgeo.plcd.diffusion import DiffusionParams  # noqa: E402
from xgeo.plcd.loss import similarity_kd, soft_margin_triplet  # noqa: E402
from xgeo.plcd.model import ModelSpec, TwoViewNet, build_model  # noqa: E402

__all__ = ["DiffusionParams", "ModelSpec", "TwoViewNet", "__version__", "build_model", "similarity_kd", "soft_margin_triplet"]
