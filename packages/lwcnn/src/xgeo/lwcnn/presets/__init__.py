"""YAML presets shipped with xgeo-lwcnn (package data; read with importlib.resources)."""
