"""YAML presets shipped with xgeo-hvsa (package data; read with importlib.resources)."""
