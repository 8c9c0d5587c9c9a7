"""The difftest report: one HTML page (or markdown for a CI job summary) from a results JSON file.

Reads only the JSON a ``difftest run`` or ``difftest campaign`` wrote (schema
``enginebugs.difftest/1``; the campaign adds a ``campaign`` section and per-position values).
Sections: run and configurations, the campaign's headline numbers, the findings table with their
taxonomy tags, per-oracle summaries, distribution statistics with KLD/Δp histograms, the
first-divergence context of each finding, the tokenizer campaign, and reproduction scripts.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from enginebugs.reports.difftest_plots import plots
from enginebugs.taxonomy import TAXONOMY, UnknownCategory

SCHEMA_PREFIX = "enginebugs.difftest/"


class ReportInputError(ValueError):
    """The file is missing, not JSON, or not a difftest results file."""


def load_results(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ReportInputError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith(SCHEMA_PREFIX):
        raise ReportInputError(f"{path} is not a difftest results file (schema {SCHEMA_PREFIX}1)")
    for key in ("run", "findings", "oracles"):
        if key not in data:
            raise ReportInputError(f"{path}: results file has no {key!r} section")
    return data


# -- shared helpers ------------------------------------------------------------------------------
def name_of(dim: str, slug: str | None) -> str:
    if not slug:
        return ""
    try:
        return TAXONOMY.resolve(dim, slug).name
    except UnknownCategory:
        return slug


def symptom_text(f: dict[str, Any]) -> str:
    sub = name_of("output_subtype", f.get("output_subtype"))
    return name_of("symptom", f.get("symptom")) + (f" ({sub})" if sub else "")


def first_line(text: str | None, limit: int = 200) -> str:
    line = (text or "").splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def pair_rows(data: dict[str, Any]) -> list[list[str]]:
    """One row per configuration pair with distribution statistics."""
    status = {(o["oracle"], tuple(o["configs"])): o["status"] for o in data.get("oracles", [])}
    rows = []
    for m in data.get("metrics", {}).get("pairs", []):
        if not m.get("positions"):
            continue
        k, dp = m["kld"], m["delta_p"]
        rows.append([m["expected"], m["actual"], m.get("pair_class", ""), str(m["positions"]),
                     f"{k['mean']:.4g} ± {k.get('mean_err', 0):.2g}", fmt(k.get("median")), fmt(k.get("p99")),
                     fmt(k.get("max")), f"{m['same_top1_pct']:.2f}", fmt(dp.get("rms")), fmt(dp.get("p1")),
                     fmt(dp.get("p99")), status.get((m.get("oracle"), (m["expected"], m["actual"])), "")])
    return rows


PAIR_HEADER = ["expected", "actual", "class", "positions", "mean KLD", "median KLD", "p99 KLD", "max KLD",
               "same top-1 %", "RMS Δp", "Δp p1", "Δp p99", "verdict"]


def headline(data: dict[str, Any]) -> list[str]:
    """The numbers a closing note quotes: findings, tokenizer mismatches by class, KLD and same-top-1
    per pair, cache/batching findings, skipped parts, wall time."""
    lines = [f"{len(data['findings'])} finding(s) over {len(data['run'].get('configs', []))} configuration(s); "
             f"wall time {fmt(data['run'].get('wall_s'), 4)} s"]
    camp = data.get("campaign") or {}
    tok = camp.get("tokenizer") or {}
    if tok.get("mismatches"):
        by_class = tok["mismatches"].get("by_class", {})
        total = sum(by_class.values())
        detail = ", ".join(f"{c}: {n}" for c, n in sorted(by_class.items(), key=lambda x: -x[1])) or "none"
        lines.append(f"tokenizer mismatches ({' vs '.join(tok.get('engines', []))}): {total} ({detail}) over "
                     f"{sum(tok.get('checked', {}).values())} strings/ids")
    for m in data.get("metrics", {}).get("pairs", []):
        if m.get("positions") and m.get("oracle", "precision.kld") == "precision.kld":
            lines.append(f"{m['expected']} vs {m['actual']}: mean KLD {m['kld']['mean']:.4g}, p99 KLD "
                         f"{m['kld']['p99']:.4g}, same top-1 {m['same_top1_pct']:.2f}% over {m['positions']} positions")
    cache = [f for f in data["findings"] if f["oracle"].split(".")[0] in ("cache", "batch")
             or f["oracle"] == "precision.knobs"]
    if camp:
        lines.append(f"cache/batching findings: {len(cache)}" + (
            " (" + "; ".join(f"#{f['id']} {f['oracle']} {' vs '.join(f['configs'])}" for f in cache) + ")"
            if cache else ""))
    for part in camp.get("parts", []):
        if part.get("status") != "ok":
            lines.append(f"part {part['name']}: {part['status']}: {part.get('reason', '')}")
    return lines


def divergence_cells(div: dict[str, Any]) -> tuple[int, list[tuple[str, str, bool]]] | None:
    """``(start, [(expected item, actual item, is_first_difference), ...])`` of a first divergence,
    using decoded pieces where the campaign added them."""
    exp = div.get("expected_pieces") or div.get("expected_context")
    act = div.get("actual_pieces") or div.get("actual_context")
    if exp is None or act is None:
        return None
    start = int(div.get("context_start", 0))
    at = int(div.get("index", start)) - start
    n = max(len(exp), len(act))
    item = lambda seq, i: "" if i >= len(seq) else repr(seq[i]) if isinstance(seq[i], str) else str(seq[i])  # noqa: E731
    return start, [(item(exp, i), item(act, i), i == at) for i in range(n)]


# -- markdown ------------------------------------------------------------------------------------
def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return (["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(_md(v) for v in row) + " |" for row in rows])


def render_markdown(data: dict[str, Any], max_findings: int = 60) -> str:
    run = data["run"]
    model = run.get("model", {})
    lines = [f"# difftest report: {model.get('name', '?')} ({run.get('id', '')})", "",
             f"Suite **{run.get('suite', {}).get('name', '?')}**, profile **{run.get('profile', '?')}**, "
             f"reference **{run.get('reference')}**.", ""]
    lines += ["## Headline", ""] + [f"- {line}" for line in headline(data)] + [""]
    findings = data["findings"]
    lines += [f"## Findings ({len(findings)})", ""]
    if findings:
        lines += _md_table(["#", "oracle", "configurations", "symptom", "root cause", "failing", "first failure"],
                           [[f["id"], f["oracle"], " vs ".join(f["configs"]), symptom_text(f),
                             name_of("root_cause", f["root_cause"]), f"{f['occurrences']}/{f['checks']}",
                             first_line(f["message"], 160)] for f in findings[:max_findings]])
        if len(findings) > max_findings:
            lines.append(f"\n… and {len(findings) - max_findings} more (see the HTML report).")
    else:
        lines.append("No finding.")
    lines += ["", "## Oracles", ""] + _md_table(
        ["oracle", "pass", "fail", "skip"], [[o, *c] for o, c in oracle_counts(data).items()])
    rows = pair_rows(data)
    if rows:
        lines += ["", "## Distribution statistics", ""] + _md_table(PAIR_HEADER[:-1], [r[:-1] for r in rows])
    return "\n".join(lines) + "\n"


def oracle_counts(data: dict[str, Any]) -> dict[str, list[int]]:
    """oracle -> [configuration sets passed, failed, skipped]."""
    out: dict[str, list[int]] = {}
    for o in data["oracles"]:
        row = out.setdefault(o["oracle"], [0, 0, 0])
        row[("pass", "fail", "skip").index(o["status"])] += 1
    return out


# -- HTML ----------------------------------------------------------------------------------------
CSS = """body{font-family:system-ui,sans-serif;max-width:1250px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 7px;vertical-align:top}
th{background:#eef}td.num{text-align:right}.fail{color:#b00;font-weight:bold}.pass{color:#070}.skip{color:#888}
.div td{font-family:monospace;font-size:90%;white-space:pre}.div td.at{background:#fdd;font-weight:bold}
code,pre{background:#f6f6f6}pre{padding:.5em;overflow-x:auto;white-space:pre-wrap}img{max-width:100%}
details{margin:.3em 0 1em}.headline li{margin:.2em 0}"""


def _e(value: Any) -> str:
    return html.escape("-" if value is None else str(value))


def _table(header: list[str], rows: list[list[Any]], raw: bool = False, cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{v if raw else _e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _status(s: str) -> str:
    return f"<span class='{_e(s)}'>{_e(s)}</span>"


def _configs_html(run: dict[str, Any]) -> str:
    rows, parts = [], any("part" in c for c in run.get("configs", []))
    for c in run.get("configs", []):
        fp = c.get("fingerprint") or {}
        rows.append(([_e(c.get("part", ""))] if parts else []) + [_e(c["label"]), _status(c.get("status", "")), _e(c.get("load_s")), _e(c.get("engine_s")),
                     _e(c.get("calls")), _e(fp.get("threads")), _e(c.get("skip_reason") or ""),
                     f"<details><summary>fingerprint</summary><pre>{_e(json.dumps(fp, indent=1)[:4000])}</pre></details>"
                     if fp else ""])
    return _table((["part"] if parts else []) + ["configuration", "status", "load s", "engine s", "calls", "threads",
                                                  "skip reason", ""], rows, raw=True)


def _findings_html(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return "<p>No finding.</p>"
    rows = [[f"<a href='#finding-{f['id']}'>{f['id']}</a>", _e(f["oracle"]), _e(" vs ".join(f["configs"])),
             _e(symptom_text(f)), _e(name_of("root_cause", f["root_cause"])), _e(name_of("component", f["component"])),
             _e(f"{f['occurrences']}/{f['checks']}"), _e(first_line(f["message"]))] for f in findings]
    return _table(["#", "oracle", "configurations", "symptom", "candidate root cause", "component", "failing",
                   "first failure"], rows, raw=True)


def _oracles_html(data: dict[str, Any]) -> str:
    out = []
    families: dict[str, list[dict[str, Any]]] = {}
    for o in data["oracles"]:
        families.setdefault(o.get("family", "other"), []).append(o)
    for fam, items in families.items():
        counts = {s: sum(o["status"] == s for o in items) for s in ("pass", "fail", "skip")}
        parts = any("part" in o for o in items)
        rows = [([_e(o.get("part", ""))] if parts else []) + [
                 _e(o["oracle"]), _e(" vs ".join(o["configs"]) or "-"), _status(o["status"]), _e(o["passed"]),
                 _e(o["failed"]), _e(o["skipped"]), _e(first_line(o.get("reason"), 160))] for o in items]
        out.append(f"<h3>{_e(fam)}: {counts['pass']} pass, {counts['fail']} fail, {counts['skip']} skip</h3>"
                   + _table((["part"] if parts else []) + ["oracle", "configurations", "status", "passed", "failed",
                                                           "skipped", "reason"], rows, raw=True))
    return "".join(out)


def _divergence_html(div: dict[str, Any] | None) -> str:
    if not div:
        return "<p><i>No first-divergence context (a distribution or crash finding).</i></p>"
    cells = divergence_cells(div)
    head = (f"<p>First difference at index {_e(div.get('index'))}: expected {_e(div.get('expected'))}, "
            f"got {_e(div.get('actual'))}")
    if "expected_length" in div:
        head += f" (lengths {_e(div['expected_length'])} vs {_e(div['actual_length'])})"
    head += "</p>"
    if cells is None:
        return head + f"<pre>{_e(json.dumps(div, ensure_ascii=False)[:2000])}</pre>"
    start, items = cells
    idx = "".join(f"<th>{start + i}</th>" for i in range(len(items)))
    exp = "".join(f"<td class='{'at' if at else ''}'>{_e(e)}</td>" for e, _, at in items)
    act = "".join(f"<td class='{'at' if at else ''}'>{_e(a)}</td>" for _, a, at in items)
    table = (f"<table class='div'><tr><th>index</th>{idx}</tr><tr><th>expected</th>{exp}</tr>"
             f"<tr><th>actual</th>{act}</tr></table>")
    ids = ""
    if div.get("expected_pieces") is not None:
        ids = (f"<p>ids: expected {_e(div.get('expected_context'))}, actual {_e(div.get('actual_context'))}</p>")
    return head + table + ids


def _finding_detail_html(f: dict[str, Any]) -> str:
    prompt = f.get("prompt")
    parts = [f"<h3 id='finding-{f['id']}'>#{f['id']} {_e(f['oracle'])}: {_e(' vs '.join(f['configs']))}</h3>",
             f"<p><b>{_e(symptom_text(f))}</b>; candidate root cause <b>{_e(name_of('root_cause', f['root_cause']))}"
             f"</b> ({_e(name_of('root_cause_group', f.get('root_cause_group')))}); component "
             f"{_e(name_of('component', f['component']))}; failing {f['occurrences']} of {f['checks']} checks.</p>",
             f"<pre>{_e(f['message'][:3000])}</pre>"]
    if prompt is not None:
        short = prompt if len(prompt) <= 300 else prompt[:300] + "…"
        parts.append(f"<p>Prompt / input: <code>{_e(repr(short))}</code></p>")
    parts.append(_divergence_html(f.get("first_divergence")))
    if f.get("examples"):
        rows = [[_e(repr((e.get("prompt") or "")[:120])), _e(first_line(e.get("message"), 240))] for e in f["examples"]]
        parts.append("<p>Further failing checks:</p>" + _table(["input", "message"], rows, raw=True))
    if f.get("reproduction"):
        parts.append(f"<p>Reproduction: <a href='{_e(f['reproduction'])}'>{_e(f['reproduction'])}</a></p>")
    return "".join(parts)


def _tokenizer_html(tok: dict[str, Any]) -> str:
    if not tok:
        return ""
    engines = " vs ".join(tok.get("engines", []))
    out = [f"<h2>Tokenizer campaign ({_e(engines)})</h2>"]
    checked = tok.get("checked", {})
    if checked:
        out.append("<p>Inputs compared: " + ", ".join(f"{_e(k)} {v}" for k, v in checked.items()) + ".</p>")
    if tok.get("throughput"):
        rows = [[_e(t["engine"]), _e(t["source"]), _e(t["strings"]), _e(t["tokens"]), _e(fmt(t["seconds"], 4)),
                 _e(f"{t['strings_per_s']:.0f}"), _e(f"{t['tokens_per_s']:.0f}")] for t in tok["throughput"]]
        out.append("<h3>Throughput</h3>" + _table(["tokenizer", "input", "strings", "tokens", "seconds", "strings/s",
                                                   "tokens/s"], rows, raw=True))
    mm = tok.get("mismatches", {})
    by_class = mm.get("by_class", {})
    out.append(f"<h3>Mismatches by class ({sum(by_class.values())})</h3>")
    if by_class:
        rows = [[_e(c), _e(n), _e(", ".join(f"{s}: {k}" for s, k in mm.get("by_source", {}).get(c, {}).items())),
                 _e(mm.get("descriptions", {}).get(c, ""))] for c, n in sorted(by_class.items(), key=lambda x: -x[1])]
        out.append(_table(["class", "count", "by input", "meaning"], rows, raw=True))
        for cls, examples in mm.get("examples", {}).items():
            rows = [[_e(e.get("source")), _e(repr(e.get("text"))[:160]), _e(e.get("expected")), _e(e.get("actual"))]
                    for e in examples]
            out.append(f"<details><summary>{_e(cls)}: {len(examples)} example(s)</summary>"
                       + _table(["input", "text", "expected", "actual"], rows, raw=True) + "</details>")
    else:
        out.append("<p>The two tokenizers agreed on every input.</p>")
    for note in tok.get("notes", []):
        out.append(f"<p>{_e(note)}</p>")
    return "".join(out)


def _campaign_html(camp: dict[str, Any]) -> str:
    if not camp:
        return ""
    rows = [[_e(p["name"]), _status(p["status"]), _e(fmt(p.get("wall_s"), 4)), _e(p.get("reason", ""))]
            for p in camp.get("parts", [])]
    out = ["<h2>Campaign parts</h2>", _table(["part", "status", "wall s", "note"], rows, raw=True)]
    by_kind = camp.get("logits", {}).get("by_kind", [])
    if by_kind:
        krows = [[_e(r["expected"]), _e(r["actual"]), _e(r["kind"]), _e(r["prompts"]), _e(r["positions"]),
                  _e(fmt(r["kld_mean"], 4)), _e(fmt(r["kld_p99"], 4)), _e(f"{r['same_top1_pct']:.2f}"),
                  _e(r.get("greedy_exact", "-"))] for r in by_kind]
        out.append("<h3>Logit campaign by prompt kind</h3>" + _table(
            ["expected", "actual", "kind", "prompts", "positions", "mean KLD", "p99 KLD", "same top-1 %",
             "greedy continuations identical"], krows, raw=True))
    for note in camp.get("notes", []):
        out.append(f"<p>{_e(note)}</p>")
    return "".join(out)


def write_html(data: dict[str, Any], out_dir: str | Path) -> Path:
    """``out_dir/index.html`` plus the histogram PNGs beside it; returns the page's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for name, png in plots(data).items():
        (out / f"{name}.png").write_bytes(png)
        images.append(f"<p><img alt='{name}' src='{name}.png'></p>")
    run, camp = data["run"], data.get("campaign") or {}
    model = run.get("model", {})
    headline_items = "".join(f"<li>{_e(line)}</li>" for line in headline(data))
    rows = pair_rows(data)
    reproductions = camp.get("reproductions", [])
    repro_html = ("<h2>Reproductions</h2><ul>" + "".join(
        f"<li><a href='{_e(r['path'])}'>{_e(r['path'])}</a>: finding #{_e(r['finding'])} {_e(r.get('title', ''))}</li>"
        for r in reproductions) + "</ul>") if reproductions else ""
    page = f"""<!doctype html><html><head><meta charset='utf-8'><title>difftest report {_e(run.get('id'))}</title>
<style>{CSS}</style></head><body>
<h1>difftest report: {_e(model.get('name'))}</h1>
<p>Run {_e(run.get('id'))}, {_e(run.get('started_at'))} to {_e(run.get('finished_at'))}; suite
<b>{_e(run.get('suite', {}).get('name'))}</b> ({_e(run.get('suite', {}).get('prompts'))} prompts); tolerance profile
<b>{_e(run.get('profile'))}</b>; reference <b>{_e(run.get('reference'))}</b>; seed {_e(run.get('seed'))}.</p>
<p>Command: <code>{_e(run.get('command'))}</code></p>
<h2>Headline</h2><ul class='headline'>{headline_items}</ul>
{_campaign_html(camp)}
<h2>Configurations</h2>{_configs_html(run)}
<h2>Findings ({len(data['findings'])})</h2>{_findings_html(data['findings'])}
<h2>Per-oracle summaries</h2>{_oracles_html(data)}
<h2>Distribution statistics (fp32 log-softmax over every scored position)</h2>
{_table(PAIR_HEADER, rows) if rows else '<p>No pair was scored with full log-probabilities.</p>'}
{''.join(images)}
{_tokenizer_html(camp.get('tokenizer') or {})}
<h2>First-divergence context of each finding</h2>
{''.join(_finding_detail_html(f) for f in data['findings']) or '<p>No finding.</p>'}
{repro_html}
</body></html>
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
