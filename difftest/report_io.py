"""Writers for a run's results: JUnit XML (CI), markdown (humans), and the terminal table.

The JSON form is :meth:`enginebugs.difftest.results.RunResult.write_json`.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from enginebugs.difftest.results import RunResult
from enginebugs.taxonomy import TAXONOMY


def _name(dim: str, slug: str | None) -> str:
    return TAXONOMY.resolve(dim, slug).name if slug else ""


def write_junit(result: RunResult, path: str | Path) -> None:
    """One ``testsuite`` per oracle family, one ``testcase`` per oracle and configuration set;
    a new finding is a ``failure`` (an ``error`` for crashes and hangs), a finding the baseline
    knows is ``skipped`` with the baseline's reason, a skip carries its reason; baseline groups no
    longer seen are ``fixed`` test cases that pass."""
    by_key = {(f.oracle, tuple(f.configs)): f for f in result.findings}
    root = ET.Element("testsuites", name=f"difftest {result.run['id']}")
    families: dict[str, ET.Element] = {}
    counts: dict[str, Counter] = {}
    for o in result.oracles:
        fam = o["family"]
        suite = families.get(fam)
        if suite is None:
            suite = families[fam] = ET.SubElement(root, "testsuite", name=fam)
            counts[fam] = Counter()
        case = ET.SubElement(suite, "testcase", classname=f"difftest.{fam}",
                             name=f"{o['oracle']}[{' vs '.join(o['configs']) or '-'}]")
        counts[fam]["tests"] += 1
        finding = by_key.get((o["oracle"], tuple(o["configs"])))
        known = result.known_reason(finding) if finding is not None else None
        if known is not None:  # accepted in the baseline: shown, not failing
            el = ET.SubElement(case, "skipped", message=f"{known}: {finding.title}"[:500])
            el.text = finding.body()
            counts[fam]["skipped"] += 1
        elif finding is not None:
            tag = "error" if finding.symptom in ("crash", "system-hang") else "failure"
            el = ET.SubElement(case, tag, message=finding.title,
                               type=f"{_name('symptom', finding.symptom)}/{_name('root_cause', finding.root_cause)}")
            el.text = finding.body()
            counts[fam]["errors" if tag == "error" else "failures"] += 1
        elif o["status"] == "skip":
            ET.SubElement(case, "skipped", message=o["reason"] or "skipped")
            counts[fam]["skipped"] += 1
    if result.comparison and result.comparison.fixed:
        suite = families["baseline"] = ET.SubElement(root, "testsuite", name="baseline")
        counts["baseline"] = Counter(tests=len(result.comparison.fixed))
        for g in result.comparison.fixed:
            ET.SubElement(suite, "testcase", classname="difftest.baseline", name=f"fixed[{g.key}] {g.title}"[:240])
    for fam, suite in families.items():
        for key in ("tests", "failures", "errors", "skipped"):
            suite.set(key, str(counts[fam][key]))
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def findings_matrix(result: RunResult) -> tuple[list[str], list[str], dict[tuple[str, str], int]]:
    """Rows: oracles; columns: configuration sets; cells: number of findings."""
    cells: Counter = Counter((f.oracle, " vs ".join(f.configs)) for f in result.findings)
    oracles = sorted({o for o, _ in cells})
    pairs = sorted({p for _, p in cells})
    return oracles, pairs, dict(cells)


def config_versions(config: dict) -> str:
    """The package versions a configuration's worker ran with (from its fingerprint), e.g.
    ``transformers 5.23.0, tokenizers 0.23.3``; empty when it never loaded."""
    packages = ((config.get("fingerprint") or {}).get("packages") or {})
    return ", ".join(f"{name} {version}" for name, version in packages.items() if version and name != "numpy")


def write_markdown(result: RunResult, path: str | Path) -> None:
    run = result.run
    lines = [f"# difftest run {run['id']}", "",
             f"Model **{run['model']['name']}** (recipe {run['model'].get('recipe_hash', '')}), suite "
             f"**{run['suite']['name']}**, profile **{run['profile']}**, reference **{run['reference']}**, "
             f"seed {run['seed']}, {run.get('wall_s', 0):.1f} s.", "",
             "## Configurations", "", "| config | status | load s | engine s | calls | packages |",
             "|---|---|---|---|---|---|"]
    for c in run["configs"]:
        lines.append(f"| {c['label']} | {c['status']} | {c['load_s']} | {c['engine_s']} | {c['calls']} | "
                     f"{config_versions(c)} |")
    lines += ["", f"## Findings ({len(result.findings)})", "", _counts_line(result) + ".", ""]
    if result.findings:
        lines += ["| # | status | oracle | configurations | symptom | root cause | component | failing | message |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for f in result.findings:
            symptom = _name("symptom", f.symptom) + (f" ({_name('output_subtype', f.output_subtype)})"
                                                      if f.output_subtype else "")
            lines.append(f"| {f.id} | {_status(result, f)} | {f.oracle} | {' vs '.join(f.configs)} | {symptom} | "
                         f"{_name('root_cause', f.root_cause)} | {_name('component', f.component)} | "
                         f"{f.occurrences}/{f.checks} | {_md_escape(f.message[:300])} |")
    else:
        lines.append("No finding.")
    if result.comparison and result.comparison.fixed:
        lines += ["", "Baseline groups no longer seen (fixed): "
                  + "; ".join(f"{g.key} {_md_escape(g.title)}" for g in result.comparison.fixed)]
    lines += ["", "## Oracles", "", "| oracle | configurations | status | passed | failed | skipped | reason |",
              "|---|---|---|---|---|---|---|"]
    for o in result.oracles:
        lines.append(f"| {o['oracle']} | {' vs '.join(o['configs']) or '-'} | {o['status']} | {o['passed']} | "
                     f"{o['failed']} | {o['skipped']} | {_md_escape(o['reason'][:200])} |")
    pairs = result.metrics.get("pairs", [])
    if pairs:
        lines += ["", "## Distribution statistics (KL divergence, fp32 log-softmax)", "",
                  "| expected | actual | class | positions | mean KLD | median | p99 | max | same top-1 % | RMS Δp "
                  "| max \\|Δlogprob\\| gen / scores |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for m in pairs:
            k = m["kld"]
            lines.append(f"| {m['expected']} | {m['actual']} | {m['pair_class']} | {m['positions']} | "
                         f"{k['mean']:.3g} ± {k['mean_err']:.2g} | {k['median']:.3g} | {k['p99']:.3g} | "
                         f"{k['max']:.3g} | {m['same_top1_pct']:.2f} | {m['delta_p']['rms']:.3g} | "
                         f"{m['max_abs_logprob_delta']['generation']:.3g} / {m['max_abs_logprob_delta']['scores']:.3g} |")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _status(result: RunResult, finding) -> str:
    return "known" if result.known_reason(finding) is not None else "new"


def _counts_line(result: RunResult) -> str:
    """``3 finding(s) in 2 group(s): 1 new, 2 known, 1 fixed`` (new/known/fixed only with a baseline)."""
    s = result.summary()
    line = f"{s['findings']} finding(s) in {s['groups']} group(s)"
    if result.comparison is not None:
        line += f": {s['new']} new, {s['known']} known, {s['fixed']} fixed"
    return line


def print_summary(result: RunResult, console: Console) -> None:
    """The final table: findings by oracle and configuration pair, then one entry per finding."""
    oracles, pairs, cells = findings_matrix(result)
    status = Counter(o["status"] for o in result.oracles)
    console.print(f"[bold]difftest {result.run['id']}[/bold]: {_counts_line(result)}; oracle checks "
                  f"{status['pass']} passed, {status['fail']} failed, {status['skip']} skipped; "
                  f"reference {escape(str(result.run['reference']))}, profile {result.run['profile']}")
    for g in result.comparison.fixed if result.comparison else []:
        console.print(f"[bold]fixed[/bold] baseline group {g.key}: {escape(g.title)}", highlight=False)
    for c in result.run.get("configs", []):
        if c.get("version") or c.get("pins"):
            console.print(f"  {escape(c['label'])}: {escape(config_versions(c) or c.get('status', ''))}", highlight=False)
    if not result.findings:
        return
    table = Table(title="Findings by oracle and configuration pair")
    table.add_column("oracle", no_wrap=True)
    for p in pairs:
        table.add_column(escape(p), justify="right")
    for o in oracles:
        table.add_row(o, *[str(cells.get((o, p), "")) for p in pairs])
    console.print(table)
    for f in result.findings:
        symptom = _name("symptom", f.symptom) + (f" ({_name('output_subtype', f.output_subtype)})"
                                                  if f.output_subtype else "")
        console.print(f"[bold]#{f.id} {_status(result, f)} {f.oracle}[/bold]  {escape(' vs '.join(f.configs))}  "
                      f"{symptom} / {_name('root_cause', f.root_cause)} / {_name('component', f.component)}  "
                      f"failing {f.occurrences}/{f.checks}", highlight=False)
        console.print("    " + escape(f.message.splitlines()[0][:300]), highlight=False, soft_wrap=True)
        if result.known_reason(f):
            console.print("    " + escape(result.known_reason(f)), highlight=False, soft_wrap=True)



def write_outputs(result: RunResult, *, json_path: str | None = None, junit: str | None = None,
                  markdown: str | None = None, db: str | None = None) -> None:
    """Write the files and store records a command was asked for (``--json-out``, ``--junit``,
    ``--markdown``, ``--db``): the same for ``difftest run`` and ``difftest serve``."""
    if json_path:
        result.write_json(json_path)
    if junit:
        write_junit(result, junit)
    if markdown:
        write_markdown(result, markdown)
    if db:
        from enginebugs.difftest.findings import save_findings

        save_findings(db, result.run, result.findings)
