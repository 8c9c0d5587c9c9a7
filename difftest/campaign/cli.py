"""``enginebugs difftest campaign``: the real-model campaign, its results file, scripts and report."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from enginebugs.difftest.executor import executor_options
from enginebugs.taxonomy.cliutil import UserError

ENGINES = ("transformers", "llamacpp", "onnxruntime")


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _render_html(ctx: click.Context, results: Path, html_dir: str) -> bool:
    """Render through the ``report difftest`` command of the enclosing ``enginebugs`` CLI (difftest
    does not import enginebugs.reports); False when this CLI has no report command."""
    root = ctx.find_root().command
    report = root.get_command(ctx, "report") if isinstance(root, click.Group) else None
    if report is None:
        return False
    report.main(args=["difftest", str(results), "--html", html_dir], prog_name="enginebugs report",
                standalone_mode=False)
    return True


@click.command("campaign")
@click.option("--model", default="gemma3-270m", show_default=True, help="Model name (gemma3-270m, tiny).")
@click.option("--engines", default=",".join(ENGINES), show_default=True,
              help="Engines; transformers is the fp32 reference, llama.cpp runs the tokenizer and cache parts.")
@click.option("--parts", default="tokenizer,logits,cache", show_default=True, help="Parts to run.")
@click.option("--suite", default="campaign", show_default=True, help="Prompt suite (name under datasets/prompts/ or .toml).")
@click.option("--max-prompts", type=int, default=0, help="Use only the first N prompts of the suite (0: all).")
@click.option("--cache-prompts", type=int, default=10, show_default=True, help="Short prompts in the cache part.")
@click.option("--vocab-limit", type=int, default=0, help="Sweep only the first N vocabulary ids (0: all).")
@click.option("--soup", type=int, default=1000, show_default=True, help="Random word/character soup strings.")
@click.option("--strings-per-generator", type=int, default=40, show_default=True,
              help="Edge-case strings per generator in the tokenizer part.")
@click.option("--no-build", "no_build", is_flag=True,
              help="Do not build the F32 GGUF or the ONNX export; their configurations are skipped.")
@click.option("--profile", type=click.Choice(["strict", "default", "lenient"]), default="default", show_default=True,
              help="Tolerance profile for the logit and cache parts: strict is bitwise.")
@click.option("--tolerances", type=click.Path(dir_okay=False), help="TOML file overriding profile values.")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Threads per engine in the logit part (1 avoids llama.cpp spin-waiting on a busy machine).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the word/character soup, the edge-case strings and batch placements.")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds per engine call.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder for campaign.json and the reproduction scripts [default: the --html folder, "
                   "else reports-out/<model>].")
@click.option("--html", "html_dir", type=click.Path(file_okay=False),
              help="Also render the HTML report (index.html + histograms) into this folder.")
@click.option("--db", type=click.Path(dir_okay=False), help="Also store the findings in this SQLite store.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Model cache directory.")
@click.option("--fail-on-findings", is_flag=True, help="Exit 1 when there is any finding (default: 0).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@executor_options
@click.pass_context
def campaign(ctx: click.Context, model: str, engines: str, parts: str, suite: str, max_prompts: int,
             cache_prompts: int, vocab_limit: int, soup: int, strings_per_generator: int, no_build: bool, profile: str,
             tolerances: str | None, threads: int, seed: int, timeout: float, out_dir: str | None,
             html_dir: str | None, db: str | None, cache_dir: str | None, fail_on_findings: bool, quiet: bool,
             **executor: Any) -> None:
    """Point the differential tester at a real model: tokenizer, logit and cache/batching parts.

    \b
    tokenizer  llama.cpp's tokenizer (from the GGUF) vs the HF tokenizer built from the same GGUF
               over every vocabulary id (decode, then encode the decoded text), the edge-case
               strings and a random word/character soup: mismatches by class, throughput.
    logits     transformers fp32 (dequantized GGUF) as reference vs llama.cpp on the quantized
               GGUF, llama.cpp on an F32 GGUF of the same values, ONNX Runtime on an fp32 export:
               per-position KL divergence, same-top-1 %, Δp, greedy continuations (tiered oracle).
    cache      llama.cpp on the quantized GGUF: KV cache vs recompute, prefix reuse cold/hot,
               n_batch and n_ubatch variation, 1 vs 2 threads, prefix reuse off, state save/load,
               batch invariance.

    \b
    Writes OUT/campaign.json (the difftest results schema plus a campaign section) and a
    reproduction script per finding that calls for one; --html renders the report. Each model is
    loaded once per configuration; a part or format that cannot run is reported as skipped.
    Exit status: 0 (1 with --fail-on-findings and findings), 2 on bad input.

    \b
    Example (the `make campaign` target):
      enginebugs difftest campaign --model gemma3-270m --html reports-out/gemma3
    """
    from enginebugs.difftest.cli import load_suite_and_profile, resolve_model

    from .merge import as_findings
    from .orchestrate import PARTS, Campaign, CampaignOptions
    from .repro import write_reproductions

    chosen_engines, chosen_parts = _split(engines), _split(parts)
    if "transformers" not in chosen_engines:
        raise UserError("the campaign needs the transformers engine: it is the fp32 reference")
    bad = sorted(set(chosen_parts) - set(PARTS))
    if bad or not chosen_parts:
        raise UserError(f"unknown part(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(PARTS)}")
    from enginebugs.difftest.engines.registry import available_engines

    unknown = sorted(set(chosen_engines) - set(available_engines()))
    if unknown:
        raise UserError(f"unknown engine(s) {', '.join(unknown)}; registered: {', '.join(sorted(available_engines()))}")
    for name, value in (("--max-prompts", max_prompts), ("--vocab-limit", vocab_limit), ("--soup", soup)):
        if value < 0:
            raise UserError(f"{name} must be >= 0")
    if db and not Path(db).resolve().parent.is_dir():
        raise UserError(f"directory of {db} does not exist")
    chosen_suite, tolerance_profile = load_suite_and_profile(suite, profile, tolerances)
    out = Path(out_dir or html_dir or f"reports-out/{model}")
    console = Console(stderr=True, quiet=quiet)
    spec = resolve_model(model, cache_dir, console)
    options = CampaignOptions(
        engines=chosen_engines, parts=chosen_parts, formats=() if no_build else ("gguf-f32", "onnx"),
        profile=tolerance_profile, seed=seed, threads=threads, timeout_s=timeout, max_prompts=max_prompts,
        cache_prompts=cache_prompts, vocab_limit=vocab_limit, strings_per_generator=strings_per_generator, soup=soup,
        progress=not quiet, command=" ".join(shlex.quote(a) for a in ["enginebugs", *sys.argv[1:]]))
    factory = campaign_factory(spec, options, **executor)
    results = Campaign(spec, chosen_suite, options, client_factory=factory, console=console).run()
    out.mkdir(parents=True, exist_ok=True)
    prompts = list(chosen_suite.prompts[: max_prompts or None])
    results["campaign"]["reproductions"] = write_reproductions(results, out, prompts)
    for r in results["campaign"]["reproductions"]:
        for f in results["findings"]:
            if f["id"] == r["finding"]:
                f["reproduction"] = r["path"]
    path = out / "campaign.json"
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if db:
        from enginebugs.difftest.findings import save_findings

        save_findings(db, results["run"], as_findings(results))
    click.echo(f"wrote {path} ({len(results['findings'])} finding(s), "
               f"{len(results['campaign']['reproductions'])} reproduction script(s))")
    if html_dir and not _render_html(ctx, path, html_dir):
        click.echo(f"render the report with: enginebugs report difftest {path} --html {html_dir}")
    for part in results["campaign"]["parts"]:
        click.echo(f"  {part['name']:9} {part['status']:8} {part['wall_s']:8.1f} s  {part['reason']}")
    sys.exit(1 if fail_on_findings and results["findings"] else 0)


def campaign_factory(spec: Any, options: CampaignOptions, **executor: Any) -> Any:
    """The client factory of ``--executor``: None (local workers) or Ray actors sized for the
    campaign's larger part (its parts run one after another)."""
    from enginebugs.difftest.executor import client_factory
    from enginebugs.difftest.runner import RunOptions

    run_options = RunOptions(timeout_s=options.timeout_s, load_timeout_s=max(600.0, options.timeout_s))
    if executor.get("executor", "local") == "local":
        return client_factory(spec, run_options, [], **executor)
    from enginebugs.difftest.ray_executor import demand

    from .plan import make_plan

    plan = make_plan(spec, list(options.engines), 1, 1, options.threads)
    largest = max((plan.logit_all, plan.cache_all), key=lambda configs: demand(configs)["CPU"])
    return client_factory(spec, run_options, largest, **executor)
