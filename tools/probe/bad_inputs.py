"""Run bad inputs against the installed commands and report each case that breaks the project's rule.

A maintainer tool, not a test. The rule for bad user input (missing data, malformed files, wrong
checkpoints, NaN, bad option values, bad output locations):

- exactly ONE line on stderr (``error: <file or flag>: <problem>; <fix>``), exit code 2, no traceback;
- nothing already on disk changes (size, mtime and a checksum of every pre-existing file in the
  case folder and in the shared fixtures are compared before and after);
- option values and output locations are refused before any work: no checkpoint, feature, log or
  metrics file appears, no progress bar starts, and the command ends within ``--slow`` seconds;
- the line never suggests ``weights_only=False``.

An argparse usage error (``usage: ...`` followed by ``prog: error: ...``) counts as one line; pass
``--strict-usage`` to count the usage block as extra lines.

Read-only folders: this runs as root, for whom ``os.access`` says everything is writable and
``chmod`` does not stop writes. Cases therefore use places that really fail for root: a path under
``/sys`` (a read-only kernel file system) and a path under an existing regular file
(``afile/sub``, ENOTDIR).

Usage, inside the hatch env (commands come from this interpreter's bin folder)::

    python tools/probe/bad_inputs.py [--only SUBSTRING] [--keep DIR] [--list]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe_fixtures import Case, Fixtures  # noqa: E402

#: files whose appearance means a command did real work (trained, embedded, evaluated)
WORK_FILES = re.compile(r"(\.pth(\.tar)?|\.h5|log\.jsonl|metrics\.json|eval_metrics\.json|PWNED)$")
#: output that means work started (tqdm bar, epoch lines, final summaries)
WORK_OUTPUT = re.compile(r"epoch \d+/\d+|\d+it/s|s/it\]|^done: |R@1 \d", re.M)
#: any hint to load with weights_only=False (torch words it "`weights_only` set to `False`")
WEIGHTS_ONLY_FALSE = re.compile(r"weights_only[^\n]{0,40}?False")
TRACEBACK = "Traceback (most recent call last)"
BIG = 4 << 20


def snapshot(roots: list[Path]) -> dict[str, tuple]:
    """path -> (size, mtime_ns, checksum) for every file under ``roots`` (big files: head+tail)."""
    out: dict[str, tuple] = {}
    for root in roots:
        if not root.exists():
            continue
        for dirpath, _, files in os.walk(root):
            for name in files:
                p = Path(dirpath, name)
                try:
                    st = p.lstat()
                    h = hashlib.sha1()
                    if p.is_symlink() or not p.is_file():
                        h.update(os.readlink(p).encode() if p.is_symlink() else b"")
                    else:
                        with open(p, "rb") as fh:
                            if st.st_size <= BIG:
                                h.update(fh.read())
                            else:
                                h.update(fh.read(1 << 20))
                                fh.seek(-(1 << 20), os.SEEK_END)
                                h.update(fh.read())
                    out[str(p)] = (st.st_size, st.st_mtime_ns, h.hexdigest())
                except OSError:
                    out[str(p)] = ("unreadable",)
    return out


def error_lines(stderr: str, strict_usage: bool) -> list[str]:
    """Non-empty stderr lines; the argparse usage block folds into its error line unless strict."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if strict_usage or not lines or not lines[0].startswith("usage:"):
        return lines
    rest = [ln for ln in lines[1:] if not ln.startswith(" ")]
    return rest


@dataclass
class Outcome:
    case: Case
    ok: bool
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0
    line: str = ""


def run_case(case: Case, fx: Fixtures, work: Path, args: argparse.Namespace) -> Outcome:
    """Set the case up under ``work``, run it, and judge it against the rule."""
    shutil.rmtree(work, ignore_errors=True)  # a kept folder of an earlier run would count as pre-existing
    work.mkdir(parents=True)
    try:
        argv = case.setup(fx, work)
    except Exception as err:  # a fixture that cannot be built is reported, not fatal
        return Outcome(case, False, [f"fixture failed: {type(err).__name__}: {err}"])
    exe = fx.bin / argv[0]
    watch = [work, fx.root]
    before = snapshot(watch)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(exe), *map(str, argv[1:])], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=case.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    except BaseException:  # interrupted: do not leave the command running
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    seconds = time.perf_counter() - start
    after = snapshot(watch)
    reasons = judge(case, proc.returncode, out, err, before, after, seconds, timed_out, work, args)
    lines = error_lines(err, args.strict_usage)
    return Outcome(case, not reasons, reasons, seconds, lines[-1] if lines else "")


def judge(case, code, out, err, before, after, seconds, timed_out, work, args) -> list[str]:
    """The list of rule violations (empty: PASS)."""
    reasons: list[str] = []
    both = out + err
    if timed_out:
        reasons.append(f"timed out after {case.timeout:.0f}s (still working)")
    if TRACEBACK in both:
        last = [ln for ln in err.splitlines() if ln.strip()][-1:] or ["?"]
        reasons.append(f"traceback ({last[0].strip()[:160]})")
    if WEIGHTS_ONLY_FALSE.search(both):
        reasons.append(f"suggests weights_only=False ({WEIGHTS_ONLY_FALSE.search(both).group(0)[:60]!r})")
    changed = sorted(p for p in before if p in after and before[p] != after[p])
    removed = sorted(p for p in before if p not in after)
    created = sorted(p for p in after if p not in before)
    if changed or removed:
        shown = [f"{Path(p).relative_to(work) if p.startswith(str(work)) else p}" for p in changed + removed]
        reasons.append(f"files changed/removed: {', '.join(shown[:4])}{' …' if len(shown) > 4 else ''}")
    if case.forbid and any(Path(p).name in case.forbid for p in created):
        reasons.append(f"forbidden file created: {', '.join(n for n in case.forbid)}")
    if case.expect == "succeed":
        if code != 0:
            reasons.append(f"exit code {code} (expected success)")
        for rel in case.outputs:
            if not (work / rel).exists():
                reasons.append(f"missing output {rel}")
        for claimed in re.findall(r"->\s+(\S+)", out):
            if not (work / claimed).exists():
                reasons.append(f"says it wrote {claimed} but it is missing")
        return reasons
    if code != 2 and not timed_out:
        reasons.append(f"exit code {code}")
    lines = error_lines(err, args.strict_usage)
    if not lines and not timed_out:
        reasons.append("nothing on stderr")
    elif len(lines) > 1:
        reasons.append(f"{len(lines)} lines on stderr (first: {lines[0].strip()[:100]!r})")
    if lines and TRACEBACK not in err:
        low = lines[-1].lower()
        missing = [m for m in case.mention if m.lower() not in low]
        if missing:
            reasons.append(f"error line does not name {', '.join(missing)}: {lines[-1].strip()[:140]!r}")
    if case.early:
        work_files = [p for p in created if WORK_FILES.search(p)]
        if work_files:
            names = sorted({Path(p).name for p in work_files})
            reasons.append(f"work done before failing (wrote {', '.join(names[:4])})")
        elif WORK_OUTPUT.search(both):
            reasons.append(f"work done before failing (output: {WORK_OUTPUT.search(both).group(0)!r})")
        elif seconds > args.slow and not timed_out:
            reasons.append(f"work done before failing ({seconds:.0f}s > --slow {args.slow:.0f}s)")
        stray = sorted({Path(p).name for p in created if not WORK_FILES.search(p)})
        if stray:
            reasons.append(f"left new files: {', '.join(stray[:4])}")
    return reasons


def all_cases() -> list[Case]:
    from probe_cases_frgeo import CASES as FRGEO
    from probe_cases_xgeo import CASES as XGEO

    cases = [*XGEO, *FRGEO]
    names = [c.name for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, f"duplicate case names: {dupes}"
    return cases


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", metavar="SUBSTRING", action="append", help="run only cases whose name contains this (repeatable)")
    p.add_argument("--keep", metavar="DIR", type=Path, help="build fixtures and case folders here and keep them")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--slow", type=float, default=60.0, help="an early refusal taking longer than this is work (seconds)")
    p.add_argument("--strict-usage", action="store_true", help="count argparse's usage block as extra stderr lines")
    args = p.parse_args(argv)

    cases = all_cases()
    if args.only:
        cases = [c for c in cases if any(s in c.name for s in args.only)]
    if args.list:
        for c in cases:
            print(c.name)
        return 0
    root = args.keep or Path(tempfile.mkdtemp(prefix="xgeo-probe-"))
    root.mkdir(parents=True, exist_ok=True)
    fx = Fixtures(root / "base", Path(sys.executable).parent)
    start = time.perf_counter()
    outcomes: list[Outcome] = []
    try:
        for i, case in enumerate(cases, 1):
            o = run_case(case, fx, root / "cases" / case.name, args)
            outcomes.append(o)
            status = "PASS" if o.ok else "FAIL"
            detail = "; ".join(o.reasons) if o.reasons else o.line.strip()[:140]
            print(f"{status} [{i:>2}/{len(cases)}] {case.name} ({o.seconds:.1f}s): {detail}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    failed = [o for o in outcomes if not o.ok]
    total = time.perf_counter() - start
    print(f"\n{len(outcomes) - len(failed)} passed, {len(failed)} failed, {len(outcomes)} cases in {total:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
