"""Value checks (flags and config fields share them) and output-location checks."""

import argparse
import math
from dataclasses import dataclass, field

import pytest

from xgeo.core.checks import arg_type, check_fields, check_output_dir, check_output_file, device, non_negative, one_of, positive
from xgeo.core.errors import XgeoError


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf, -math.inf, True, "1"])
def test_positive_refuses(value):
    assert not positive(value)


@pytest.mark.parametrize("value", [1e-9, 3, 2.5])
def test_positive_accepts(value):
    assert positive(value)


def test_arg_type_refuses_nan_and_text_as_usage_errors():
    lr = arg_type(float, positive)
    assert lr("0.1") == 0.1
    for text in ("nan", "-1", "inf", "fast"):
        with pytest.raises(argparse.ArgumentTypeError):
            lr(text)
    assert arg_type(int, non_negative)("0") == 0


def test_device_check():
    assert device("cpu") and device("auto")
    assert not device("banana") and not device("cuda:7") and not device("mps:0")


@dataclass
class Options:
    lr: float = field(default=0.1, metadata={"check": positive})
    size: list[int] | None = None
    mode: str = field(default="a", metadata={"check": one_of("a", "b")})


def test_check_fields_coerces_ints_and_names_source_and_key():
    opts = Options(lr=1)
    check_fields(opts)
    assert isinstance(opts.lr, float)
    with pytest.raises(XgeoError, match=r"^p.yaml: lr='fast' has the wrong type; lr must be float$"):
        check_fields(Options(lr="fast"), "p.yaml")
    with pytest.raises(XgeoError, match=r"--lr=-1.0 is out of range; --lr must be a finite number > 0"):
        check_fields(Options(lr=-1.0), None, {"lr": "--lr"})
    with pytest.raises(XgeoError, match="size"):
        check_fields(Options(size="12"))
    with pytest.raises(XgeoError, match="mode='c'"):
        check_fields(Options(mode="c"))


def test_output_locations(tmp_path):
    existing = tmp_path / "file.txt"
    existing.write_text("x")
    assert check_output_file(tmp_path / "new" / "out.json", "--json") == tmp_path / "new" / "out.json"
    assert check_output_dir(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b"
    with pytest.raises(XgeoError, match="--json: this is a folder"):
        check_output_file(tmp_path, "--json")
    with pytest.raises(XgeoError, match="--out: this is a file"):
        check_output_dir(existing, "--out")
    with pytest.raises(XgeoError, match="is a file, not a folder"):
        check_output_file(existing / "sub" / "out.json", "--json")  # under a file: nothing can be created
    with pytest.raises(XgeoError, match="not writable"):
        check_output_dir("/proc/xgeo-out", "--out")
