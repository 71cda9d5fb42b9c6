"""Safe file input/output: atomic writes, YAML, JSON, checkpoints, weights and images.

Every writer goes through :func:`atomic_write`, so a crash never leaves a half-written file in
place of a good one. Every reader turns a broken file into a :class:`~xgeo.core.errors.XgeoError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from xgeo.core.errors import XgeoError

if TYPE_CHECKING:  # torch is imported lazily so that commands which never touch it start fast
    import torch

PathLike = str | os.PathLike

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path: PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: PathLike) -> Any:
    """Read a JSON file, or raise a one-line error naming it."""
    path = Path(path)
    if not path.is_file():
        raise XgeoError(path, "file not found", "check the path")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise XgeoError(path, f"malformed JSON ({err})", "fix or regenerate the file") from None


def read_yaml(path: PathLike) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load``, or raise a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise XgeoError(path, "config file not found", "check the path or the preset name")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise XgeoError(path, f"malformed YAML ({str(err).splitlines()[0]})", "fix the file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise XgeoError(path, "a YAML config must be a mapping of keys to values", "fix the file")
    return data


def save_torch(obj: Any, path: PathLike) -> None:
    """``torch.save`` atomically."""
    import torch

    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def _unpickling_detail(err: Exception) -> str:
    """What a ``weights_only`` load refused, without torch's advice to turn the safety off."""
    for line in str(err).splitlines():
        line = line.strip()
        if line.startswith(("WeightsUnpickler error:", "Unsupported global", "Unsupported operand")):
            return line.replace("WeightsUnpickler error: ", "").split(" Please", 1)[0].rstrip(".")[:160]
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return type(err).__name__ if "weights_only" in first else first[:160]


def load_torch(path: PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True``, or raise a one-line error naming the file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise XgeoError(path, "checkpoint not found", "check the path")
    try:
        with warnings.catch_warnings():  # torch warns about old pickle protocols; the error below says enough
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a bad file
        detail = _unpickling_detail(err)
        fix = "pass a checkpoint of tensors written by xgeo or torch.save"
        raise XgeoError(path, f"not a readable checkpoint ({detail})", fix) from None


#: top-level keys under which checkpoints nest their weights, tried in order
NESTING_KEYS = ("state_dict", "model", "state_dict_ema", "model_ema")


def read_weights(path: PathLike) -> dict[str, Any]:
    """The mapping stored in a ``.safetensors`` file or a torch checkpoint (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise XgeoError(path, "checkpoint not found", "check the path")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except (SafetensorError, OSError, ValueError) as err:
            raise XgeoError(path, f"not a readable safetensors file ({str(err)[:160]})", "pass a valid checkpoint") from None
    data = load_torch(path)
    if not isinstance(data, dict):
        raise XgeoError(path, "checkpoint is not a mapping of weights", "pass a checkpoint saved with torch.save(state_dict)")
    return data


def unwrap_state(data: dict[str, Any]) -> dict[str, Any]:
    """The weights inside a checkpoint mapping (``state_dict``, ``model``, ... nestings), without DDP ``module.``."""
    for key in NESTING_KEYS:
        if isinstance(data.get(key), dict):
            data = data[key]
            break
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in data.items()}


def check_finite(state: dict[str, Any], path: PathLike) -> None:
    """Refuse a state holding NaN or inf in any floating-point tensor."""
    import torch

    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            raise XgeoError(
                path, f"checkpoint holds NaN/inf weights ({key})", "pass an earlier checkpoint of a run that did not diverge"
            )


def load_weights(path: PathLike) -> dict[str, Any]:
    """:func:`read_weights`, unwrapped and checked finite: the state to load into a model."""
    state = unwrap_state(read_weights(path))
    check_finite(state, path)
    return state


def _more(names: list[str]) -> str:
    return f"{names[0]}" + (f" and {len(names) - 1} more" if len(names) > 1 else "")


def load_state_dict_into(model: torch.nn.Module, state: dict[str, Any], path: PathLike, strict: bool = True) -> None:
    """Load ``state`` into ``model``; a missing or unexpected key or a wrong shape is a one-line error.

    With ``strict`` (the default) every key must match, so a partial load never passes silently;
    ``strict=False`` loads the keys the model has and ignores the rest.
    """
    import torch

    fix = "pass a checkpoint of the same method and model settings"
    expected = model.state_dict()
    if strict:
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        if missing:
            raise XgeoError(path, f"checkpoint does not match the model (missing key {_more(missing)})", fix)
        if unexpected:
            raise XgeoError(path, f"checkpoint does not match the model (unexpected key {_more(unexpected)})", fix)
    for key, value in state.items():
        target = expected.get(key)
        if isinstance(value, torch.Tensor) and isinstance(target, torch.Tensor) and value.shape != target.shape:
            shapes = f"{key} has shape {list(value.shape)}, the model {list(target.shape)}"
            raise XgeoError(path, f"checkpoint does not match the model ({shapes})", fix)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise XgeoError(path, f"checkpoint does not match the model ({detail[:200]})", fix) from None


def read_image(path: PathLike) -> torch.Tensor:
    """Read an image as a float32 RGB tensor ``[3, H, W]`` in ``[0, 1]``."""
    import torch
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise XgeoError(path, "image not found", "check the dataset root and its split files") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise XgeoError(path, f"unreadable image ({type(err).__name__})", "replace or re-download the file") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def write_image(path: PathLike, image: np.ndarray | torch.Tensor, quality: int = 95) -> None:
    """Write an ``[H, W, 3]`` uint8 array (or ``[3, H, W]`` float tensor in ``[0, 1]``) atomically."""
    import torch
    from PIL import Image

    if isinstance(image, torch.Tensor):
        image = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    path = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF"}[path.suffix.lower()]
    with atomic_write(path) as tmp:
        kwargs = {"quality": quality} if fmt == "JPEG" else {}
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format=fmt, **kwargs)
