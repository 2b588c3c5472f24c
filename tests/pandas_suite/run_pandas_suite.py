"""Runs a subset of pandas' own test suite twice, plain and with tracking on, and fails if tracking adds any
failure or error. `make test-pandas` calls it; CI runs it.

The subset (frame and series methods, reshape, groupby, io parsers) is sized to CI's time limit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

SUBSET = [
    "pandas.tests.frame.methods",
    "pandas.tests.series.methods",
    "pandas.tests.reshape",
    "pandas.tests.groupby.aggregate",
    "pandas.tests.groupby.transform",
    "pandas.tests.io.parser.common",
    "pandas.tests.io.parser.dtypes",
]
SMOKE = ["pandas.tests.frame.methods.test_dropna", "pandas.tests.reshape.merge.test_merge"]
MARKERS = "not slow and not network and not db and not single_cpu"


def run_suite(modules: list[str], tracked: bool, workers: str, report: Path) -> tuple[dict[str, str], float]:
    """Run pytest over `modules`; return each test's outcome by node id and the wall time."""
    cmd = [sys.executable, "-m", "pytest", "--pyargs", *modules, "-q", "-p", "no:cacheprovider",
           "-m", MARKERS, f"--junitxml={report}", "-o", "junit_family=xunit2", "--no-header", "-rN"]
    if workers != "0":
        cmd += ["-n", workers]
    if tracked:
        cmd += ["-p", "openlineage_pandas.testing.pytest_plugin", "--openlineage-pandas"]
    # tracked: lineage evaluated at every call, so a rule error surfaces in the test that triggers it
    env = {**os.environ, "OPENLINEAGE_PANDAS_EAGER_LINEAGE": "1"} if tracked else None
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cwd:
        subprocess.run(cmd, cwd=cwd, check=False, env=env)
    elapsed = time.perf_counter() - start
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        node = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                break
        outcomes[node] = outcome
    return outcomes, elapsed


def tally(outcomes: dict[str, str]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for outcome in outcomes.values():
        counts[outcome] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="two small modules only")
    parser.add_argument("-n", "--workers", default="2")
    args = parser.parse_args()
    modules = SMOKE if args.smoke else SUBSET
    with tempfile.TemporaryDirectory() as tmp:
        plain, plain_time = run_suite(modules, False, args.workers, Path(tmp) / "plain.xml")
        tracked, tracked_time = run_suite(modules, True, args.workers, Path(tmp) / "tracked.xml")
    bad = ("failed", "error")
    added = sorted(n for n, o in tracked.items() if o in bad and plain.get(n) not in bad)
    missing = sorted(set(plain) - set(tracked))
    p, t = tally(plain), tally(tracked)
    print(f"\npandas subset: {', '.join(modules)}")
    print(f"plain:   {p['passed']} passed, {p['failed']} failed, {p['error']} errors, {p['skipped']} skipped "
          f"in {plain_time:.0f} s")
    print(f"tracked: {t['passed']} passed, {t['failed']} failed, {t['error']} errors, {t['skipped']} skipped "
          f"in {tracked_time:.0f} s")
    if missing:
        print(f"{len(missing)} tests ran plain but not tracked, e.g. {missing[:5]}")
    if added:
        print(f"tracking added {len(added)} failures/errors:")
        for node in added[:50]:
            print(f"  {node}")
    ok = not added and not missing and len(tracked) > 0
    print(f"pandas suite with tracking: {t['passed']} passed, {len(added)} failed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
