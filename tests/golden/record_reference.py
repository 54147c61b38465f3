"""Record the golden reference on the baseline commit (run by hand, commit the result).

    python tests/golden/record_reference.py            # all scenarios
    python tests/golden/record_reference.py busy-fleet  # some

The baseline (``harness.BASELINE``) is checked out as a git worktree in
``/tmp/baseline-<commit>`` (see ``benchmarks/baseline.py``) and imported through
``PYTHONPATH`` by this interpreter, which must have rassim's dependencies. For each
scenario it runs ``REFERENCE_SEEDS`` and writes ``reference.json``; then, as a check of
the statistics themselves, it compares the baseline's own ``TEST_SEEDS`` runs with that
reference: every check must pass (old code against old code).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(HERE))

from baseline import worktree  # noqa: E402
from harness import (  # noqa: E402
    BASELINE,
    REFERENCE,
    REFERENCE_SEEDS,
    TEST_SEEDS,
    compare,
    scenario_names,
    thin,
)

_OBSERVE = """
import json, sys
sys.path.insert(0, {here!r})
from harness import observe
print(json.dumps(observe({name!r}, range({start}, {stop}))))
"""


def observe_baseline(name: str, seeds: range, checkout: Path) -> dict:
    """``harness.observe`` run by the baseline's code, in a child interpreter."""
    code = _OBSERVE.format(here=str(HERE), name=name, start=seeds.start, stop=seeds.stop)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def main(names: list[str]) -> int:
    checkout = worktree(BASELINE)
    recorded = json.loads(REFERENCE.read_text())["scenarios"] if REFERENCE.exists() else {}
    ok = True
    for name in names or scenario_names():
        reference = observe_baseline(name, REFERENCE_SEEDS, checkout)
        recorded[name] = thin(reference)
        same_code = observe_baseline(name, TEST_SEEDS, checkout)
        failed = [c for c in compare(recorded[name], same_code) if not c.passed]
        ok &= not failed
        verdict = "ok" if not failed else "; ".join(f"{c.name}: {c.detail}" for c in failed)
        print(f"{name}: {len(reference['latency_ns'])} events; baseline against itself: {verdict}")
    REFERENCE.write_text(
        json.dumps({"baseline": BASELINE, "scenarios": dict(sorted(recorded.items()))}) + "\n"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
