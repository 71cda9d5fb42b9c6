"""Registry: one table type, one error for unknown names."""

import pytest

from xgeo.core.datasets import DATASETS, get_dataset
from xgeo.core.errors import XgeoError
from xgeo.core.registry import Registry, UnknownNameError
from xgeo.core.synthetic import write_dataset


def test_register_get_and_names():
    table: Registry[int] = Registry("optimizer", "--op")
    table.register("sgd", 1)

    @table.register("adam")
    def adam() -> int:
        return 2

    assert table.get("sgd") == 1 and table.get("adam") is adam
    assert table.names() == ["adam", "sgd"] and "sgd" in table and len(table) == 2
    assert list(table) == ["sgd", "adam"] and table.values() == [1, adam]
    with pytest.raises(ValueError, match="already registered"):
        table.register("sgd", 3)


def test_unknown_name_is_one_line_listing_the_known_ones():
    table: Registry[int] = Registry("optimizer", "--op")
    table.register("sgd", 1)
    table.register("adam", 2)
    with pytest.raises(UnknownNameError) as info:
        table.get("adamw")
    err = info.value
    assert isinstance(err, XgeoError) and isinstance(err, KeyError)
    assert str(err) == "unknown --op adamw; use one of adam, sgd" == err.line()


def test_core_tables_use_it(tmp_path):
    with pytest.raises(XgeoError, match="unknown --dataset mars; use one of cvact, cvusa, .*vigor"):
        get_dataset("mars", tmp_path, "train")
    with pytest.raises(XgeoError, match="unknown synthetic dataset 'mars'"):
        write_dataset("mars", tmp_path, size=1)
    assert {"cvusa", "cvact", "vigor"} <= set(DATASETS.names())
