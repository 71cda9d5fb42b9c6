"""xgeo-lwcnn: installable skeleton; the method lands with its own issue."""

__version__ = "0.0.1"
