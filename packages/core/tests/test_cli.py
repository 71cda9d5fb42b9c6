import subprocess
import sys

import pytest

from xgeo.core.cli import SUBCOMMANDS, main


def run_xgeo(*args):
    return subprocess.run([sys.executable, "-m", "xgeo.core.cli", *args], capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_info_lists_registries():
    proc = run_xgeo("info")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "xgeo-core" in out and "cvusa" in out and "crossview" in out


def test_demo_rejects_a_method_that_is_not_installed():
    assert_one_line_error(run_xgeo("demo", "--methods", "nosuchmethod"), "nosuchmethod", "pip install xgeo-nosuchmethod")


def test_localize_rejects_unknown_method(tmp_path):
    img = tmp_path / "q.jpg"
    img.write_bytes(b"")
    proc = run_xgeo("localize", str(img), "--method", "nosuchmethod", "--checkpoint", "x.pth", "--gallery", "g.h5")
    assert_one_line_error(proc, "nosuchmethod")


def test_usage_errors_are_one_line():
    assert_one_line_error(run_xgeo("synth", "cvusa"), "--out", "xgeo synth --help")
    assert_one_line_error(run_xgeo("synth", "cvusa", "--out", "x", "--seed", "-1"), "--seed", "'-1'")


def test_localize_checks_its_options_and_images_before_any_work(tmp_path):
    base = ["--method", "frgeo", "--checkpoint", str(tmp_path / "none.pth"), "--gallery", str(tmp_path / "none.h5")]
    assert_one_line_error(run_xgeo("localize", "q.jpg", *base, "--top-k", "0"), "--top-k", "'0'")
    assert_one_line_error(run_xgeo("localize", "q.jpg", *base, "--batch-size", "0"), "--batch-size")


def test_demo_workdir_must_be_a_folder(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    assert_one_line_error(run_xgeo("demo", "--workdir", str(target)), str(target), "--workdir")
    assert target.read_text() == "keep me"


def test_evaluate_thresholds_must_be_positive_metres():
    proc = run_xgeo("evaluate", "--query", "q.h5", "--gallery", "g.h5", "--protocol", "sn6", "--thresholds", "nan")
    assert_one_line_error(proc, "--thresholds", "'nan'")


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_subcommand_answers_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"xgeo {command}" in capsys.readouterr().out
