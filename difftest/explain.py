"""``enginebugs difftest explain FINDING``: everything about one finding, and a script that reproduces it.

FINDING is a finding id, a fingerprint (or a prefix of 6+ characters) or a divergence group, read
from a results JSON (``--results``, from ``difftest run --json-out`` or a campaign) or a store
(``--db``). Shown: the finding and its taxonomy labels, the full first-divergence context, the
examples, the fingerprints of the configurations (engine versions, CPU, threads, knobs); with
``--replay`` (default) both configurations are loaded again and their top-k at the first
divergent step of a greedy generation of the finding's prompt is printed side by side. The
reproduction script comes from the same code as the campaign's
(:func:`enginebugs.difftest.campaign.repro.script_for`).
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import click

from enginebugs.taxonomy.cliutil import UserError

NO_REPLAY_FAMILIES = ("tokenization", "engine")


def _matches(finding: dict[str, Any], key: str) -> bool:
    if key.isdigit():
        return finding.get("id") == int(key)
    return len(key) >= 6 and (str(finding.get("fingerprint", "")).startswith(key) or finding.get("group") == key)


def from_results(path: str, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(finding, results) of ``key`` in a results file."""
    from enginebugs.difftest.results import load_results

    try:
        results = load_results(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read results {path}: {exc}") from None
    found = [f for f in results["findings"] if _matches(f, key)]
    if not found:
        raise UserError(f"no finding {key!r} in {path} (ids 1-{len(results['findings'])}; or a fingerprint)")
    return found[0], results


def from_store(db: str, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(finding, a results-like dict with the configurations' fingerprints) of ``key`` in a store."""
    from enginebugs.taxonomy.cliutil import open_store

    with open_store(db, readonly=True) as store:
        for record in store.records(kind="difftest"):
            extra = record.get("extra") or {}
            finding = dict(extra.get("finding") or {})
            if _matches({**finding, "id": record["id"]}, key):
                finding["id"] = record["id"]
                configs = [{"label": label, "fingerprint": fp} for label, fp in (extra.get("fingerprints") or {}).items()]
                run = {"id": extra.get("run_id"), "profile": extra.get("profile"), "configs": configs,
                       "model": {"name": record.get("repo", "").removeprefix("difftest/")},
                       "first_seen": extra.get("first_seen"), "last_seen": extra.get("last_seen"), "runs": extra.get("runs")}
                return finding, {"run": run, "findings": [finding]}
    raise UserError(f"no difftest finding {key!r} in {db}")


def _command_option(command: str, name: str) -> list[str]:
    argv, out = shlex.split(command or ""), []
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith(name + "="):
            out.append(arg.split("=", 1)[1])
    return out


def replay_topk(finding: dict[str, Any], results: dict[str, Any], model: str | None, cache_dir: str | None,
                top_k: int, say) -> dict[str, Any]:
    """Both configurations' top-k at the first divergent step of a greedy generation of the prompt."""
    from enginebugs.difftest.cli import resolve_model
    from enginebugs.difftest.engines.registry import PluginError, register_plugin
    from enginebugs.difftest.protocol import EngineConfig
    from enginebugs.difftest.runner import RunOptions, worker_factory
    from rich.console import Console

    run = results["run"]
    command = run.get("command", "")
    labels = list(finding["configs"])
    if len(labels) == 1 and run.get("reference") and run["reference"] != labels[0]:
        labels.insert(0, run["reference"])
    by_label = {c["label"]: c for c in run.get("configs", []) if "engine" in c}
    if len(labels) != 2 or not all(label in by_label for label in labels):
        return {"skipped": "needs two configurations recorded in a results file"}
    if not finding.get("prompt"):
        return {"skipped": "the finding records no prompt"}
    model = model or next(iter(_command_option(command, "--model")), run.get("model", {}).get("name"))
    plugins = tuple(_command_option(command, "--engine-plugin"))
    for ref in plugins:
        try:
            register_plugin(ref)
        except PluginError as exc:
            raise UserError(f"cannot replay: {exc}") from None
    configs = [EngineConfig.from_dict({k: by_label[label][k] for k in ("engine", "dtype", "options", "label")})
               for label in labels]
    spec = resolve_model(model, cache_dir or next(iter(_command_option(command, "--cache-dir")), None),
                         Console(stderr=True))
    factory = worker_factory(spec, RunOptions(plugins=plugins, timeout_s=300))
    index = (finding.get("first_divergence") or {}).get("index")
    steps = max(8, min(64, (index if isinstance(index, int) else 0) + 1))
    say(f"replaying {labels[0]} and {labels[1]} on the prompt ({steps} greedy steps)")
    with factory(configs[0]) as a, factory(configs[1]) as b:
        ids = a.tokenize(finding["prompt"])
        ga, gb = a.generate(ids, steps, top_k=top_k), b.generate(ids, steps, top_k=top_k)
        n = min(len(ga.top), len(gb.top))
        step = next((i for i in range(n) if ga.token_ids[i] != gb.token_ids[i]), None)
        if step is None:
            step = index if isinstance(index, int) and index < n else max(
                range(n), key=lambda i: max((abs(x - y) for x, y in zip(ga.top[i].logprobs, gb.top[i].logprobs)), default=0))
        sides = []
        for client, gen in ((a, ga), (b, gb)):
            top = gen.top[step]
            sides.append([{"id": t, "piece": client.detokenize([t]), "logprob": lp} for t, lp in zip(top.ids, top.logprobs)])
    return {"configs": labels, "prompt_tokens": len(ids), "step": step, "tokens_differ": ga.token_ids[step] != gb.token_ids[step],
            "generated": [ga.token_ids[:step + 1], gb.token_ids[:step + 1]], "top": sides}


def _print(finding: dict[str, Any], results: dict[str, Any], topk: dict[str, Any] | None, script: str | None) -> None:
    from enginebugs.taxonomy import TAXONOMY

    def name(dim: str, slug: str | None) -> str:
        return TAXONOMY.resolve(dim, slug).name if slug else "-"

    echo = click.echo
    echo(f"Finding {finding.get('id')} ({finding.get('fingerprint')}, group {finding.get('group', '-')}): {finding.get('title')}")
    echo(f"  oracle {finding['oracle']}; configurations {' vs '.join(finding['configs'])}")
    echo(f"  {name('symptom', finding.get('symptom'))} / {name('root_cause', finding.get('root_cause'))} / "
         f"{name('component', finding.get('component'))}; failing {finding.get('occurrences')}/{finding.get('checks')}")
    if finding.get("status"):
        echo(f"  status: {finding['status']}" + (f" ({finding['known_reason']})" if finding.get("known_reason") else ""))
    echo("\nMessage:\n  " + "\n  ".join(str(finding.get("message", "")).splitlines()))
    if finding.get("prompt") is not None:
        echo(f"\nPrompt: {finding['prompt']!r}")
    echo("\nFirst divergence:")
    for key, value in (finding.get("first_divergence") or {"-": "none recorded"}).items():
        echo(f"  {key}: {value!r}")
    for ex in finding.get("examples") or []:
        echo(f"  also: {ex.get('prompt')!r}: {str(ex.get('message', '')).splitlines()[0][:200]}")
    if topk is not None:
        how = "first step where the tokens differ" if topk.get("tokens_differ") else "same tokens; the step with the widest gap"
        echo("\nTop-k at the first divergent step" + (f" ({topk['skipped']})" if "skipped" in topk else
             f": step {topk['step']} of the greedy continuation of the {topk['prompt_tokens']}-token prompt ({how})"))
        if "top" in topk:
            a, b = topk["configs"]
            echo(f"  {'rank':>4}  {a:<34}  {b:<34}")
            for rank, (x, y) in enumerate(zip(*topk["top"]), start=1):
                echo(f"  {rank:>4}  {x['id']:>6} {x['piece']!r:<16} {x['logprob']:>9.5f}  "
                     f"{y['id']:>6} {y['piece']!r:<16} {y['logprob']:>9.5f}")
    echo("\nConfiguration fingerprints:")
    configs = {c["label"]: c for c in results["run"].get("configs", [])}
    for label in finding["configs"]:
        echo(f"  {label}: {json.dumps((configs.get(label) or {}).get('fingerprint'), sort_keys=True, ensure_ascii=False)}")
    if script:
        echo(f"\nReproduction script: {script}")


@click.command("explain")
@click.argument("finding")
@click.option("--results", "results_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Results JSON (difftest run --json-out, or a campaign's).")
@click.option("--db", type=click.Path(dir_okay=False), help="Store the findings were saved in (difftest run --db).")
@click.option("--replay/--no-replay", default=True, show_default=True,
              help="Load both configurations again and show their top-k at the first divergence.")
@click.option("--top-k", type=int, default=5, show_default=True, help="How many candidates of each side to show.")
@click.option("--model", help="Model to replay on [default: the run's --model].")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Model cache directory.")
@click.option("--script", "script_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Where to write the reproduction script [default: repro_<fingerprint>.py here].")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain(finding: str, results_path: str | None, db: str | None, replay: bool, top_k: int, model: str | None,
            cache_dir: str | None, script_path: str | None, as_json: bool) -> None:
    """Explain one finding: its first-divergence context, both engines' top-k there, the
    configurations' fingerprints and a standalone reproduction script.

    \b
    Examples:
      enginebugs difftest explain 3 --results run.json
      enginebugs difftest explain 71228e1f --db findings.db --no-replay
    """
    from enginebugs.difftest.campaign.repro import script_for, script_text

    if bool(results_path) == bool(db):
        raise UserError("give one of --results FILE or --db FILE")
    if script_path and not Path(script_path).resolve().parent.is_dir():
        raise UserError(f"directory of {script_path} does not exist")
    found, results = from_results(results_path, finding) if results_path else from_store(db, finding)
    say = (lambda m: click.echo(m, err=True))
    topk = None
    if replay and found["oracle"].split(".")[0] not in NO_REPLAY_FAMILIES:
        topk = replay_topk(found, results, model, cache_dir, top_k, say)
    files = results.get("campaign", {}).get("files", {})
    prompts = [found["prompt"]] if found.get("prompt") else []
    made = script_for(found, results, files, prompts, cwd=str(Path.cwd())) if results_path else None
    written = None
    if made:
        written = script_path or f"repro_{found['fingerprint']}.py"
        Path(written).write_text(script_text(made[0], found.get("id"), made[1], made[2]), encoding="utf-8")
        Path(written).chmod(0o755)
    if as_json:
        click.echo(json.dumps({"finding": found, "configs": {c["label"]: c.get("fingerprint") for c in results["run"]["configs"]
                                                              if c["label"] in found["configs"]},
                               "topk": topk, "script": written}, ensure_ascii=False, default=str))
    else:
        _print(found, results, topk, written)
