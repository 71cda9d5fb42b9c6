import os

import pytest
import torch

from xgeo.core.errors import XgeoError
from xgeo.core.io import atomic_write, load_state_dict_into, load_torch, read_image, read_yaml, save_torch, write_json


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"R@1": 1.0})
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("{half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == '{\n  "R@1": 1.0\n}\n'
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "preset.yaml"
    bad.write_text("lr: [1e-4\n")
    with pytest.raises(XgeoError, match="preset.yaml: malformed YAML"):
        read_yaml(bad)
    bad.write_text("- a list\n")
    with pytest.raises(XgeoError, match="must be a mapping"):
        read_yaml(bad)
    bad.write_text("!!python/object:os.system {}\n")
    with pytest.raises(XgeoError, match="malformed YAML"):
        read_yaml(bad)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(XgeoError, match="checkpoint not found"):
        load_torch(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(XgeoError, match="junk.pth: not a readable checkpoint"):
        load_torch(junk)
    ckpt = tmp_path / "ok.pth"
    save_torch({"state_dict": torch.nn.Linear(2, 3).state_dict()}, ckpt)
    state = load_torch(ckpt)["state_dict"]
    with pytest.raises(XgeoError, match="ok.pth: checkpoint does not match the model"):
        load_state_dict_into(torch.nn.Linear(2, 4), state, ckpt)


def test_unreadable_image(tmp_path):
    bad = tmp_path / "0000001.jpg"
    bad.write_bytes(b"\xff\xd8garbage")
    with pytest.raises(XgeoError, match="0000001.jpg: unreadable image"):
        read_image(bad)
    with pytest.raises(XgeoError, match="image not found"):
        read_image(tmp_path / "nope.png")


def test_malformed_json_names_the_file(tmp_path):
    from xgeo.core.io import read_json

    bad = tmp_path / "split.json"
    bad.write_text('{"images": [1, 2')
    with pytest.raises(XgeoError, match="split.json: malformed JSON"):
        read_json(bad)
    with pytest.raises(XgeoError, match="file not found"):
        read_json(tmp_path / "absent.json")


def test_atomic_write_gives_usual_permissions(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {})
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


class _Payload:
    def __reduce__(self):
        return (print, ("payload ran",))


def test_unsafe_checkpoints_are_refused_without_advice_to_turn_the_safety_off(tmp_path, capsys):
    import pickle

    bad = tmp_path / "evil.pth.tar"
    bad.write_bytes(pickle.dumps({"state_dict": _Payload()}, protocol=2))
    with pytest.raises(XgeoError) as info:
        load_torch(bad)
    line = info.value.line()
    assert line.startswith(f"{bad}: not a readable checkpoint") and "Unsupported global" in line
    assert not any(advice in line for advice in ("weights_only", "False", "add_safe_globals", "Please"))
    assert "payload ran" not in capsys.readouterr().out
