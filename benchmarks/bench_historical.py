"""The historical real-bug benchmark: every case of ``datasets/historical/`` as a version-differential
run (buggy vs fixed) plus its control (fixed vs the next fixed release), with the tiny-model variant
and suite the case names. Reports per case: detected, oracle, root cause attributed, control, time;
closes with detected/total per package, the controls, and the total wall time.

Environments are built on first use (pure-Python pins: seconds to a minute each; a
llama-cpp-python version builds from source once per machine); once cached the benchmark runs
offline. Run: ``python -m benchmarks.bench_historical [CASE_ID ...]``.
"""
from __future__ import annotations

import sys
import time

from enginebugs.difftest.historical import load_cases, run_case, summary


def main(argv: list[str] | None = None) -> None:
    only = set(argv if argv is not None else sys.argv[1:]) - {"bench_historical"}
    cases = [c for c in load_cases() if not only or c.id in only]
    t0, results = time.perf_counter(), []
    print(f"{'case':38} {'package':18} {'buggy->fixed':18} {'detected':9} {'oracle(s)':34} {'rc':3} {'control':8} time")
    for case in cases:
        r = run_case(case)
        results.append(r)
        print(f"{r.id:38} {r.package:18} {r.buggy + '->' + r.fixed:18} {'yes' if r.detected else 'NO':9} "
              f"{','.join(r.oracles) or '-':34} {'ok' if r.root_cause_ok else '-':3} "
              f"{'clean' if not r.control_findings and not r.error else 'FINDING' if r.control_findings else 'error':8} "
              f"{r.time_s:.0f} s" + (f"  [{r.error}]" if r.error else "")
              + (f"  (both control releases: {','.join(r.control_shared)})" if r.control_shared else "")
              + ("" if case.detectable else "  (marked not detectable)"), flush=True)
    total = summary(results)
    for package, p in sorted(total["packages"].items()):
        print(f"  {package}: {p['detected']}/{p['cases']} detected, {p['root_cause_ok']} with the right root cause, "
              f"{p['controls_clean']}/{p['cases']} controls clean")
    print(f"closing: {total['detected']}/{total['cases']} detected, {total['controls_clean']}/{total['cases']} controls "
          f"clean, {total['errors']} errors, wall {time.perf_counter() - t0:.0f} s (environments cached: "
          f"{'yes' if all(r.time_s < 600 for r in results) else 'partly'}; machine shared and loaded)")


if __name__ == "__main__":
    main()
