"""The historical real-bug benchmark: fixed upstream bugs the tester must rediscover.

Each case (``datasets/historical/<id>.toml``) names a real, fixed bug of an engine package: the
upstream issue/PR URLs, a buggy and a fixed version (both installable), the next fixed release
as the control, the tiny-model variant and the suite that reach the bug, and the oracle and root
cause the tester should report. :func:`run_case` runs the version-differential pair (buggy vs
fixed, the fixed one as reference) and the control pair (fixed vs control); a case is *detected*
when the pair has a finding of the expected oracle naming the buggy configuration that the fixed
one does not share, and the control is *clean* when no finding separates its two releases
(findings both releases share are listed apart: they are not version differences). A case marked ``detectable = false`` says why
(``why_not``): a lead for the next oracle, still run and reported.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from enginebugs import datasets
from enginebugs.taxonomy.textio import TextFileError, read_toml

REQUIRED = ("id", "package", "title", "urls", "engine", "buggy", "fixed", "control", "model", "suite", "oracle",
            "root_cause")


class CaseError(ValueError):
    """A case file that cannot be read or lacks a required field."""


@dataclass(frozen=True)
class Case:
    id: str
    package: str
    title: str
    urls: tuple[str, ...]
    engine: str
    buggy: str
    fixed: str
    control: str
    model: str
    suite: str
    oracle: str
    root_cause: str
    dtype: str = "f32"
    #: Pins every configuration of the case shares (``transformers==5.24.0`` for a tokenizers case).
    base: tuple[str, ...] = ()
    #: Engine knobs every configuration of the case sets (``pickle_roundtrip=true``), ``:``-joined.
    options: str = ""
    detectable: bool = True
    why_not: str = ""
    notes: str = ""

    def config(self, version: str) -> str:
        """The configuration spec running ``package`` at ``version``: ``engine@version`` when the
        package is the engine's own, else a ``with=`` pin."""
        from enginebugs.difftest.envs import normalize
        from enginebugs.difftest.versions import engine_of
        from enginebugs.difftest.runner import parse_config

        own = getattr(engine_of(parse_config(f"{self.engine}:{self.dtype}")), "package", None)
        knobs = f":{self.options}" if self.options else ""
        if own and normalize(own) == normalize(self.package):
            pins = list(self.base)
            return f"{self.engine}@{version}:{self.dtype}{knobs}" + (f":with={'+'.join(pins)}" if pins else "")
        pins = list(self.base) + [f"{self.package}=={version}"]
        return f"{self.engine}:{self.dtype}{knobs}:with={'+'.join(pins)}"


def case_dir():
    return datasets.path("historical")


def load_cases(only: str | None = None) -> list[Case]:
    """Every case, sorted by id (``only``: that one; an unknown id is a CaseError)."""
    cases = []
    for path in sorted(case_dir().glob("*.toml")):
        try:
            raw = read_toml(path)
        except TextFileError as exc:
            raise CaseError(f"historical case: {exc}") from None
        missing = [k for k in REQUIRED if k not in raw]
        unknown = set(raw) - set(Case.__dataclass_fields__)
        if missing or unknown:
            raise CaseError(f"{path.name}: missing {missing}, unknown {sorted(unknown)}")
        if raw["id"] != path.stem:
            raise CaseError(f"{path.name}: id {raw['id']!r} differs from the file name")
        raw["urls"], raw["base"] = tuple(raw["urls"]), tuple(raw.get("base", ()))
        cases.append(Case(**raw))
    if only is not None:
        cases = [c for c in cases if c.id == only]
        if not cases:
            raise CaseError(f"no historical case {only!r}; see datasets/historical/")
    return cases


@dataclass
class CaseResult:
    id: str
    package: str
    buggy: str
    fixed: str
    control: str
    expected_oracle: str
    expected_root_cause: str
    detectable: bool
    detected: bool = False
    oracles: list[str] = field(default_factory=list)
    root_cause_ok: bool = False
    control_findings: list[str] = field(default_factory=list)
    control_shared: list[str] = field(default_factory=list)
    error: str = ""
    time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pair(case: Case, old: str, new: str, progress: Callable[[str], None]):
    """Run ``old`` vs ``new`` (the reference) on the case's model and suite; the RunResult."""
    from enginebugs.difftest.envs import ensure
    from enginebugs.difftest.models import get_model
    from enginebugs.difftest.runner import Runner, RunOptions, parse_config
    from enginebugs.difftest.suites import load_suite
    from enginebugs.difftest.versions import config_env

    configs = [parse_config(case.config(old)), parse_config(case.config(new))]
    for c in configs:
        env = config_env(c)
        if env is not None:
            ensure(env, progress=progress)
    model = get_model(case.model, progress=progress)
    options = RunOptions(reference=configs[1].label, progress=False, command=f"historical {case.id}")
    return configs, Runner(model, configs, load_suite(case.suite), options).run()


def run_case(case: Case, progress: Callable[[str], None] | None = None) -> CaseResult:
    """The version-differential run and its control for one case."""
    say = progress or (lambda _m: None)
    out = CaseResult(case.id, case.package, case.buggy, case.fixed, case.control, case.oracle, case.root_cause,
                     case.detectable)
    t0 = time.perf_counter()
    try:
        configs, result = _pair(case, case.buggy, case.fixed, say)
        buggy, labels = configs[0].label, [c.label for c in configs]
        # A finding both versions share (a streaming rule every release has) is no detection.
        hits = [f for f in result.findings if buggy in f.configs and separates(f, result.findings, labels)]
        out.oracles = sorted({f.oracle for f in hits})
        right = [f for f in hits if f.oracle == case.oracle]
        out.detected = bool(right)
        out.root_cause_ok = any(f.root_cause == case.root_cause for f in right)
        configs, control = _pair(case, case.fixed, case.control, say)
        out.control_findings, out.control_shared = version_differences(control.findings, [c.label for c in configs])
    except Exception as exc:  # an environment that cannot be built, a model that cannot load
        out.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    out.time_s = round(time.perf_counter() - t0, 1)
    return out


def version_differences(findings: list, labels: list[str]) -> tuple[list[str], list[str]]:
    """(oracles of findings that separate the two versions, oracles both versions share). A pair
    finding separates them; so does a single-configuration finding only one version has. One both
    have (a config whose clean-up makes decoding lossy fails round trips on every release) is
    reported as shared: it is not a difference between the releases. (A lossy round trip both
    releases share used to show on the reference alone; the round-trip oracle itself now excuses
    the reference where a peer build decodes alike: ``checks.peer_round_trip``.)"""
    differ, shared = set(), set()
    for f in findings:
        (differ if separates(f, findings, labels) else shared).add(f.oracle)
    return sorted(differ), sorted(shared)


def separates(finding, findings: list, labels: list[str]) -> bool:
    """Whether ``finding`` tells the versions ``labels`` apart: a pair finding does; a
    single-configuration one does unless every other version has a finding of that oracle too."""
    if len(finding.configs) != 1:
        return True
    single = {(f.oracle, f.configs[0]) for f in findings if len(f.configs) == 1}
    return any((finding.oracle, other) not in single for other in labels if other != finding.configs[0])


def summary(results: list[CaseResult]) -> dict[str, Any]:
    """Detected/total per package, right root cause, clean controls."""
    per: dict[str, dict[str, int]] = {}
    for r in results:
        p = per.setdefault(r.package, {"cases": 0, "detected": 0, "root_cause_ok": 0, "controls_clean": 0})
        p["cases"] += 1
        p["detected"] += r.detected
        p["root_cause_ok"] += r.root_cause_ok
        p["controls_clean"] += not r.control_findings and not r.error
    return {"packages": per, "cases": len(results), "detected": sum(r.detected for r in results),
            "controls_clean": sum(not r.control_findings and not r.error for r in results),
            "errors": sum(bool(r.error) for r in results), "time_s": round(sum(r.time_s for r in results), 1)}
