"""xgeo-core: the shared base of every xgeo method package."""

from xgeo.core.errors import XgeoError
from xgeo.core.task import RetrievalTask

__version__ = "0.1.0"

__all__ = ["RetrievalTask", "XgeoError", "__version__"]
