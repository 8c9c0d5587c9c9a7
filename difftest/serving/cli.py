"""``enginebugs difftest serve``: the serving-layer oracle as a command."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click
from rich.console import Console

from enginebugs.taxonomy.cliutil import UserError


@click.command("serve")
@click.option("--model", default="tiny", show_default=True,
              help="Model name (tiny, gemma3-270m) or a ModelSpec .json file; 'none' with --server-url only.")
@click.option("--servers", "server_names", default="llamacpp,transformers", show_default=True,
              help="Comma-separated servers to start: llamacpp, transformers, vllm ('' with --server-url only).")
@click.option("--server-url", "urls", multiple=True, metavar="URL",
              help="An OpenAI-compatible server already running (repeatable), e.g. http://127.0.0.1:30000 "
                   "(SGLang, Ollama, ...). Never started or stopped here.")
@click.option("--suite", default="requests", show_default=True,
              help="Request suite: a name under datasets/serving/ or a .toml path.")
@click.option("--timeout", type=float, default=120.0, show_default=True,
              help="Seconds one request may take before it counts as a System Hang.")
@click.option("--start-timeout", type=float, default=300.0, show_default=True,
              help="Seconds a server may take to start (vLLM CPU: 26 s+ on the tiny model).")
@click.option("--json", "json_flag", is_flag=True, help="Print the results JSON on stdout (the summary goes to stderr).")
@click.option("--json-out", "json_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the results JSON to FILE (schema enginebugs.difftest/1).")
@click.option("--junit", type=click.Path(dir_okay=False), metavar="FILE", help="Write JUnit XML to FILE.")
@click.option("--markdown", type=click.Path(dir_okay=False), metavar="FILE", help="Write a markdown report to FILE.")
@click.option("--db", type=click.Path(dir_okay=False), help="Also store the findings in this SQLite store.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Model cache directory.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def serve(model: str, server_names: str, urls: tuple[str, ...], suite: str, timeout: float, start_timeout: float,
          json_flag: bool, json_path: str | None, junit: str | None, markdown: str | None, db: str | None,
          cache_dir: str | None, quiet: bool) -> None:
    """Send the same requests to several OpenAI-compatible servers serving one model and flag
    where they break the API or each other.

    \b
    Each server starts once on 127.0.0.1 on a free port with pinned settings (llama.cpp: f32 KV,
    repeat_penalty 1.0, no stream interruption; vLLM: float32, eager) and is stopped by its PID at
    the end, on Ctrl-C and when the tester dies. Oracles: stream vs non-stream, stop strings,
    usage/max_tokens/finish_reason, logprobs structure, echo/n/seed/logit_bias (ignored = Feature
    Failure), chat template vs apply_chat_template, input validation, concurrency needle.
    Differences the API leaves open are listed as conventions, not findings.

    \b
    Exit status: 0 no finding, 1 findings, 2 usage or input error.
    """
    from enginebugs.difftest.cli import _split, resolve_model
    from enginebugs.difftest.report_io import print_summary, write_outputs
    from enginebugs.difftest.serving.run import serve_run
    from enginebugs.difftest.serving.servers import server_named, url_server
    from enginebugs.difftest.serving.suite import SuiteError, load_serving_suite

    for target in (json_path, junit, markdown, db):
        if target and not Path(target).resolve().parent.is_dir():
            raise UserError(f"directory of {target} does not exist")
    try:
        chosen = [server_named(n) for n in _split(server_names)]
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from None
    chosen += [url_server(u, i) for i, u in enumerate(urls)]
    if not chosen:
        raise UserError("no server: name some with --servers or give --server-url")
    labels = [s.name for s in chosen]
    if len(set(labels)) != len(labels):
        raise UserError(f"duplicate servers in {', '.join(labels)}")
    try:
        requests = load_serving_suite(suite)
    except SuiteError as exc:
        raise UserError(str(exc)) from None
    console = Console(stderr=True)
    spec = None if model == "none" else resolve_model(model, cache_dir, console)
    if spec is None and any(not s.name.startswith("url") for s in chosen):
        raise UserError("--model none works with --server-url only")
    progress = (lambda _: None) if quiet else (lambda m: console.print(f"[dim]{m}[/dim]", highlight=False))
    result = serve_run(spec, chosen, requests, timeout_s=timeout, start_timeout_s=start_timeout, progress=progress,
                       command=" ".join(shlex.quote(a) for a in ["enginebugs", *sys.argv[1:]]))
    write_outputs(result, json_path=json_path, junit=junit, markdown=markdown, db=db)
    if markdown:
        _append_conventions(result, markdown)
    out = Console(stderr=json_flag)
    print_summary(result, out)
    for conv in result.metrics.get("conventions", []):
        out.print(f"convention difference {conv['convention']}: " + ", ".join(
            f"{k}={v}" for k, v in conv["values"].items()), highlight=False, soft_wrap=True)
    if json_flag:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
    sys.exit(result.exit_code)


def _append_conventions(result, path: str) -> None:
    """The convention differences (not findings) under the shared markdown report."""
    lines = ["", "## Convention differences (left open by the OpenAI API; not findings)", ""]
    diffs = result.metrics.get("conventions", [])
    lines += [f"- **{d['convention']}** ({d['question']}): " + ", ".join(f"{k} = {v}" for k, v in d["values"].items())
              for d in diffs] or ["None."]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
