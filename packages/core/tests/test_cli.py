import subprocess
import sys


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
