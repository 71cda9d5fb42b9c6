"""YAML presets shipped with xgeo-frgeo (package data; read with importlib.resources)."""
