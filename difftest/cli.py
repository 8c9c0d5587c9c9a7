"""``enginebugs difftest``: prepare models and run the differential test."""
from __future__ import annotations

import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from enginebugs.difftest.executor import client_factory, executor_options
from enginebugs.taxonomy.cliutil import UserError, pick_deprecated

ENGINES = ("transformers", "llamacpp", "onnxruntime")
MODEL_HELP = ("tiny, tiny:<variant>, tiny:all (the tiny family), gemma3-270m, a .gguf file, an HF model directory (converted to the formats the engines "
              "need, cached by content hash) or a hub id org/name[@revision] (needs network).")


@click.group("difftest")
def difftest() -> None:
    """Run the same weights and prompts through several engines and flag divergences.

    \b
    Typical use:
      enginebugs difftest prepare --model tiny            # build the tiny model in every format
      enginebugs difftest run --model tiny                 # all oracles, default configurations
      enginebugs difftest run --configs transformers:f32,llamacpp:q8_0 --profile strict --json-out out.json
      enginebugs difftest list                             # oracles, suites, profiles, planted faults
    """


def _progress_printer(console: Console):
    return lambda message: console.print(f"[dim]{message}[/dim]")


def load_suite_and_profile(suite: str, profile: str, tolerances: str | None):
    """The prompt suite and tolerance profile a command names; bad input is a one-line error."""
    from enginebugs.difftest.suites import SuiteError, load_suite
    from enginebugs.difftest.tolerances import ToleranceError, load_profile

    try:
        return load_suite(suite), load_profile(profile, tolerances)
    except (SuiteError, ToleranceError) as exc:
        raise UserError(str(exc)) from None


def needed_formats(configs: list) -> set[str] | None:
    """The ``ModelSpec.files`` keys the configurations load (None when an engine does not say)."""
    from enginebugs.difftest.engines.registry import available_engines

    known, keys = available_engines(), set()
    for c in configs:
        key = getattr(_engine_for(c, known)[0], "weights_key", lambda dtype: None)(c.dtype)
        if key is None:
            return None
        keys |= {key, "hf"} if key == "onnx" else {key}  # ONNX Runtime reads the HF tokenizer
    return keys


def resolve_model(model: str, cache_dir: str | None, console: Console, formats: set[str] | None = None):
    """A model (built-in name, ``.gguf`` file, HF directory or hub id) for
    :func:`enginebugs.difftest.models.get_model` with ``formats`` built, or a ModelSpec JSON file."""
    from enginebugs.difftest.protocol import ModelSpec

    if model.endswith(".json"):
        try:
            return ModelSpec.from_dict(json.loads(Path(model).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise UserError(f"cannot read model spec {model}: {exc}") from None
    from enginebugs.difftest.models import ModelUnavailable, get_model

    try:
        spec = get_model(model, cache_dir, progress=_progress_printer(console), formats=formats)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from None
    except ModelUnavailable as exc:
        raise UserError(str(exc)) from None
    for fmt, reason in spec.unavailable.items():
        console.print(f"[yellow]format {fmt} unavailable; configurations needing it are skipped: {escape(reason)}[/yellow]",
                      highlight=False)
    return spec


def read_baseline(path: str) -> list:
    """The known groups of a baseline file; a bad file is a one-line error."""
    from enginebugs.difftest.baseline import BaselineError, load_baseline

    try:
        return load_baseline(path)
    except BaselineError as exc:
        raise UserError(str(exc)) from None


@difftest.command()
@click.option("--model", default="tiny", show_default=True, help=MODEL_HELP)
@click.option("--formats", help="Comma-separated formats to build (hf, gguf-f32, gguf-f16, gguf-q8_0, onnx, ...) "
              "[default: what the default configurations use].")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Model cache (default $ENGINEBUGS_CACHE or ~/.cache/enginebugs).")
def prepare(model: str, formats: str | None, cache_dir: str | None) -> None:
    """Build (once) a model in the engines' formats and print where the files are.

    A format a converter cannot produce is listed under "unavailable" with its reason."""
    console = Console(stderr=True)
    specs = [resolve_model(name, cache_dir, console, set(_split(formats)) if formats else None).to_dict()
             for name in model_family(model)]
    click.echo(json.dumps(specs[0] if len(specs) == 1 else specs, indent=1))


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _engine_for(config, known_engines: dict):
    """The (unloaded) engine object a configuration's knobs are checked against, and the wrapper's
    own knobs: an engine that names the engine it wraps in a knob (``wraps_option``, as the planted
    faults do with ``wraps=``) is looked through for every knob that is not its own; any other
    engine, wrapper or not, is checked as itself."""
    from enginebugs.difftest.engines.registry import create_engine

    engine = create_engine(config.engine)
    knob = getattr(engine, "wraps_option", None)
    if not knob:
        return engine, {}
    wrapped = config.options.get(knob, getattr(engine, "default_wrapped", "transformers"))
    if wrapped not in known_engines:
        raise UserError(f"{config.label}: wraps unknown engine {wrapped!r} "
                        f"(known: {', '.join(sorted(known_engines))})")
    return create_engine(wrapped), {knob: wrapped, **dict(getattr(engine, "option_defaults", None) or {})}


def _knobs_of(config, known_engines: dict) -> dict | None:
    """The knobs (``option_defaults``) of the engine a configuration runs, a wrapper's own included;
    ``None`` when it does not say."""
    engine, own = _engine_for(config, known_engines)
    knobs = getattr(engine, "option_defaults", None)
    return {**dict(knobs), **own} if knobs is not None else None


def preflight_configs(spec, configs: list) -> None:
    """Refuse, before any engine starts, a configuration the model cannot provide (``llamacpp:q4_K``
    on a model without Q4_K weights) or a knob value of the wrong type (``n_batch=abc``)."""
    from enginebugs.difftest.engines.registry import available_engines
    from enginebugs.difftest.protocol import Unsupported

    known = available_engines()
    for c in configs:
        engine, own_knobs = _engine_for(c, known)
        check = getattr(engine, "preflight", None)
        key = getattr(engine, "weights_key", lambda dtype: None)(c.dtype)
        if check is None or key in spec.unavailable:  # a format no converter could build: the run skips it
            continue
        own = replace(c, options={k: v for k, v in c.options.items() if k not in own_knobs})
        try:
            check(spec, own)
        except (Unsupported, ValueError) as exc:
            raise UserError(f"{c.label}: {exc}") from None


def _with_threads(config, knobs: dict | None, threads: int):
    """Pin the thread count where the engine has a ``threads`` knob the configuration leaves
    unset; the label stays the same (the fingerprint records the threads)."""

    if threads <= 0 or knobs is None or "threads" not in knobs or "threads" in config.options:
        return config
    return replace(config, options={**config.options, "threads": threads})


def build_configs(engines: str | None, configs: str | None, plugins: tuple[str, ...], threads: int = 0) -> list:
    """The configurations of a run from ``--engines`` / ``--configs`` (see ``run --help``)."""
    from enginebugs.difftest.engines.registry import PluginError, available_engines, register_plugin
    from enginebugs.difftest.runner import default_configs, parse_config
    from enginebugs.difftest.versions import config_env

    for ref in plugins:
        try:
            register_plugin(ref)
        except PluginError as exc:
            raise UserError(str(exc)) from None
    known = available_engines()
    chosen_engines = _split(engines)
    try:
        parsed = [parse_config(c) for c in _split(configs)]
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for name in chosen_engines + [c.engine for c in parsed]:
        if name not in known:
            raise UserError(f"unknown engine {name!r}; registered: {', '.join(sorted(known))} "
                            f"(add others with --engine-plugin module:factory)")
    if parsed and chosen_engines:
        stray = sorted({c.engine for c in parsed} - set(chosen_engines))
        if stray:
            raise UserError(f"--configs uses engine(s) {', '.join(stray)} not in --engines {','.join(chosen_engines)}")
    result = parsed or default_configs(chosen_engines or list(ENGINES))
    labels = [c.label for c in result]
    if len(set(labels)) != len(labels):
        raise UserError(f"duplicate configurations in {', '.join(labels)}")
    checked = []
    for c in result:
        knobs = _knobs_of(c, known)
        unknown = sorted(set(c.options) - {"wraps"} - set(knobs)) if knobs is not None else []
        if unknown:
            raise UserError(f"{c.label}: {c.engine} does not understand option(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(knobs)) or 'none'}")
        checked.append(_with_threads(c, knobs, threads))
        try:
            config_env(c)  # versioned: the pins are in the adapter's supported range
        except ValueError as exc:
            raise UserError(f"{c.label}: {exc}") from None
    return checked


def prepare_envs(configs: list, console: Console) -> None:
    """Build (once; then reused from the cache) the worker environment of every versioned configuration."""
    from enginebugs.difftest.envs import EnvError, ensure
    from enginebugs.difftest.versions import config_env

    for c in configs:
        env = config_env(c)
        if env is None:
            continue
        try:
            ensure(env, progress=_progress_printer(console))
        except EnvError as exc:
            raise UserError(f"{c.label}: cannot build its environment: {exc}") from None


@difftest.command()
@click.option("--model", default="tiny", show_default=True, help=MODEL_HELP + " Or a ModelSpec .json file.")
@click.option("--engines", help="Comma-separated engines; each gets its default configurations "
              "[default: transformers,llamacpp,onnxruntime].")
@click.option("--configs", help="Comma-separated engine:dtype[:knob=value...] configurations, e.g. "
              "transformers:f32,llamacpp:q8_0,llamacpp:f32:n_batch=8 (overrides the defaults).")
@click.option("--reference", help="Configuration the others are compared with [default: transformers:f32].")
@click.option("--suite", default="default", show_default=True,
              help="Prompt suite: a name under datasets/prompts/ (default, smoke) or a .toml path.")
@click.option("--profile", type=click.Choice(["strict", "default", "lenient"]), default="default", show_default=True,
              help="Tolerance profile: strict is bitwise.")
@click.option("--tolerances", type=click.Path(dir_okay=False), help="TOML file overriding profile values.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for string generation and batch placement.")
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="Seconds one engine call may take before it counts as a System Hang.")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Threads per engine where the configuration does not set them (0: the engine's default). "
                   "One thread keeps results deterministic and avoids oversubscribing small machines.")
@click.option("--engine-plugin", "plugins", multiple=True, metavar="MODULE:FACTORY",
              help="Register another engine (repeatable), e.g. enginebugs.difftest.faults:leading_space_dropper.")
@click.option("--json", "json_flag", is_flag=False, flag_value="-", default=None, metavar="",
              help="Print the results JSON on stdout (the summary goes to stderr).")
@click.option("--json-out", "json_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the results JSON to FILE (schema enginebugs.difftest/1).")
@click.option("--junit", type=click.Path(dir_okay=False), metavar="FILE", help="Write JUnit XML to FILE.")
@click.option("--markdown", type=click.Path(dir_okay=False), metavar="FILE", help="Write a markdown report to FILE.")
@click.option("--db", type=click.Path(dir_okay=False), help="Also store the findings in this SQLite store.")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Accepted findings (JSON/TOML from --write-baseline): shown as known, they do not fail the run.")
@click.option("--write-baseline", "write_baseline_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write this run's findings, grouped by divergence, as a baseline FILE to commit.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Model cache directory.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@executor_options
def run(model: str, engines: str | None, configs: str | None, reference: str | None, suite: str, profile: str,
        tolerances: str | None, seed: int, timeout: float, threads: int, plugins: tuple[str, ...], json_flag: str | None,
        json_path: str | None, junit: str | None, markdown: str | None, db: str | None, baseline_path: str | None,
        write_baseline_path: str | None, cache_dir: str | None, quiet: bool, **executor: Any) -> None:
    """Run every oracle over the chosen engine configurations and report findings.

    \b
    Each configuration runs in its own worker process with the model loaded once; the reference
    tokenizes the prompts and every engine gets the same ids. Oracles: tokenization (ids,
    round trip, decode, streaming), sanity, precision tiers 1-4 (tokens, top-k rule, |Δlogprob|,
    KL divergence), cache (KV vs recompute, prefix reuse, chunked prefill), batch (needle, order).
    A crash is a Crash finding, a timeout a System Hang finding; the run goes on.

    \b
    \b
    Exit status: 0 no new finding, 1 new findings (every finding is new without --baseline),
    2 usage or input error.
    """
    from enginebugs.difftest.report_io import print_summary

    if json_flag not in (None, "-"):  # the old spelling `--json FILE`
        json_path = pick_deprecated(json_path, json_flag, "--json FILE", "--json-out FILE")
        json_flag = None
    models = model_family(model)
    worst = 0
    for name in models:  # tiny:all runs each variant; its files get the variant's name as a suffix
        tag = name.partition(":")[2] if len(models) > 1 else ""
        result = execute(model=name, engines=engines, configs=configs, reference=reference, suite=suite,
                         profile=profile, tolerances=tolerances, seed=seed, timeout=timeout, threads=threads,
                         plugins=plugins, json_path=suffixed(json_path, tag), junit=suffixed(junit, tag),
                         markdown=suffixed(markdown, tag), db=db, baseline=baseline_path,
                         write_baseline=suffixed(write_baseline_path, tag), cache_dir=cache_dir, quiet=quiet,
                         executor=executor, family=len(models) > 1)
        if tag:
            Console(stderr=bool(json_flag)).print(f"[bold]model {name}[/bold]")
        print_summary(result, Console(stderr=bool(json_flag)))
        if json_flag:
            click.echo(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
        worst = max(worst, result.exit_code)
    sys.exit(worst)


def execute(*, model: str = "tiny", engines: str | None = None, configs: str | None = None, reference: str | None = None,
            suite: str = "default", profile: str = "default", tolerances: str | None = None, seed: int = 0,
            timeout: float = 300.0, threads: int = 1, plugins: tuple[str, ...] = (), json_path: str | None = None,
            junit: str | None = None, markdown: str | None = None, db: str | None = None, baseline: str | None = None,
            write_baseline: str | None = None, cache_dir: str | None = None, quiet: bool = True,
            console: Console | None = None, executor: dict[str, Any] | None = None, family: bool = False):
    """What ``difftest run`` does, short of printing and exiting: check the input (``UserError``),
    prepare the model, run (``executor``: the ``--executor``/``--ray-*`` options), apply the baseline
    and write the requested files; returns the
    :class:`~enginebugs.difftest.results.RunResult` (``exit_code`` is the command's)."""
    from enginebugs.difftest.report_io import write_outputs
    from enginebugs.difftest.runner import Runner, RunOptions

    for target in (json_path, junit, markdown, db, write_baseline):
        if target and not Path(target).resolve().parent.is_dir():
            raise UserError(f"directory of {target} does not exist")
    known = read_baseline(baseline) if baseline else None
    chosen_suite, tolerance_profile = load_suite_and_profile(suite, profile, tolerances)
    config_list = build_configs(engines, configs, tuple(plugins), threads)
    if reference and reference not in [c.label for c in config_list]:
        raise UserError(f"reference {reference!r} is not one of the configurations: "
                        f"{', '.join(c.label for c in config_list)}")
    console = console or Console(stderr=True)
    spec = resolve_model(model, cache_dir, console, needed_formats(config_list))
    if family:  # one model of tiny:all: configurations it cannot provide are left out with the reason
        config_list = runnable_configs(spec, config_list, console)
        if reference and reference not in [c.label for c in config_list]:
            raise UserError(f"model {model}: the reference {reference} cannot run on it")
    preflight_configs(spec, config_list)
    prepare_envs(config_list, console)
    options = RunOptions(profile=tolerance_profile, seed=seed, reference=reference, timeout_s=timeout,
                         progress=not quiet, plugins=tuple(plugins),
                         command=" ".join(shlex.quote(a) for a in ["enginebugs", *sys.argv[1:]]))
    factory = client_factory(spec, options, config_list, **(executor or {}))
    result = Runner(spec, config_list, chosen_suite, options, client_factory=factory, console=console).run()
    if known is not None:
        result.apply_baseline(known, baseline)
    if write_baseline:
        from enginebugs.difftest.baseline import write_baseline as write_baseline_file

        write_baseline_file(write_baseline, result.run, result.findings)
    write_outputs(result, json_path=json_path, junit=junit, markdown=markdown, db=db)
    return result


def model_family(model: str) -> list[str]:
    """``tiny:all`` -> every tiny variant's name; any other model -> itself."""
    if model != "tiny:all":
        return [model]
    from enginebugs.difftest.models.tiny import VARIANTS

    return [f"tiny:{v}" for v in VARIANTS]


def suffixed(path: str | None, tag: str) -> str | None:
    """``out.json`` -> ``out-<tag>.json`` (one file per model of a family run)."""
    if not tag or not path:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}-{tag}{p.suffix}"))


def runnable_configs(spec, configs: list, console: Console) -> list:
    """In a family run, the configurations ``spec`` can provide; the others are left out with the
    reason (a variant without GGUF weights skips llama.cpp) instead of stopping the family."""
    keep = []
    for c in configs:
        try:
            preflight_configs(spec, [c])
            keep.append(c)
        except UserError as exc:
            console.print(f"[dim]{spec.name}: skipping {exc}[/dim]", highlight=False)
    if not keep:
        raise UserError(f"model {spec.name}: none of the configurations can run on it")
    return keep


@difftest.command("envs")
@click.option("--build", "build", metavar="CONFIGS",
              help="Build (or find) the environments of these versioned configurations, e.g. "
                   "transformers@5.23.0:f32,transformers@5.24.0:f32:with=tokenizers==0.22.1.")
@click.option("--prune", is_flag=True, help="Remove the cached environments (all but those --build names).")
@click.option("--json", "json_flag", is_flag=True, help="Print the list as JSON.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache directory.")
def envs_command(build: str | None, prune: bool, json_flag: bool, cache_dir: str | None) -> None:
    """List, build and prune the cached worker environments of versioned configurations.

    \b
    A configuration engine@version (plus with=pkg==ver+pkg==ver) runs in its own environment:
    one per resolved requirement set and Python version, built on first use, reused afterwards.
    """
    from enginebugs.difftest import envs
    from enginebugs.difftest.versions import config_env

    console = Console(stderr=True)
    keep = set()
    for c in build_configs(None, build, ()) if build else []:
        spec = config_env(c)
        if spec is None:
            raise UserError(f"{c.label} pins no version; nothing to build")
        try:
            python = envs.ensure(spec, cache_dir, progress=_progress_printer(console))
        except envs.EnvError as exc:
            raise UserError(f"{c.label}: cannot build its environment: {exc}") from None
        keep.add(python.parent.parent)
    if prune:
        for info in envs.prune(cache_dir, keep):
            console.print(f"removed {info.path.name} ({info.size_bytes / 2**20:.0f} MiB)")
    rows = envs.list_envs(cache_dir)
    if json_flag:
        click.echo(json.dumps([{**vars(r), "path": str(r.path)} for r in rows], indent=1))
        return
    if not rows:
        click.echo(f"no worker environments in {envs.envs_root(cache_dir)}")
        return
    for r in rows:
        state = "" if r.complete else "  (incomplete: a build was interrupted)"
        built = f", built in {r.built_in_s:.0f} s" if r.built_in_s is not None else ""
        click.echo(f"{r.size_bytes / 2**20:7.0f} MiB  py{r.python} {r.flavour:8} {' '.join(r.requirements) or '?'}"
                   f"{built}{state}\n           {r.path}")
    click.echo(f"{sum(r.size_bytes for r in rows) / 2**20:7.0f} MiB  total, {len(rows)} environment(s)")


@difftest.command("historical")
@click.option("--only", metavar="ID", help="Run one case (a file name under datasets/historical/, without .toml).")
@click.option("--list", "list_only", is_flag=True, help="List the cases without running them.")
@click.option("--json-out", "json_path", type=click.Path(dir_okay=False), metavar="FILE", help="Write the results as JSON.")
def historical_command(only: str | None, list_only: bool, json_path: str | None) -> None:
    """Rediscover real, fixed upstream bugs: each case runs buggy vs fixed version and a control.

    \b
    Each case in datasets/historical/ names the bug's upstream URLs, a buggy and a fixed version,
    the tiny-model variant and suite that reach it, and the oracle the tester should report.
    Exit status: 0 every detectable case detected and every control clean, 1 otherwise.
    """
    from enginebugs.difftest.historical import CaseError, load_cases, run_case, summary

    try:
        cases = load_cases(only)
    except CaseError as exc:
        raise UserError(str(exc)) from None
    if json_path and not Path(json_path).resolve().parent.is_dir():
        raise UserError(f"directory of {json_path} does not exist")
    if list_only:
        for c in cases:
            mark = "" if c.detectable else "  (not detectable: " + c.why_not[:80] + ")"
            click.echo(f"{c.id:36} {c.package} {c.buggy} -> {c.fixed}  {c.model}  {c.oracle}{mark}")
        return
    console = Console(stderr=True)
    results = []
    for c in cases:
        console.print(f"[bold]{c.id}[/bold]: {c.package} {c.buggy} vs {c.fixed} (control {c.control})")
        r = run_case(c, progress=_progress_printer(console))
        results.append(r)
        verdict = "detected" if r.detected else "MISSED"
        console.print(f"  {verdict} ({', '.join(r.oracles) or 'no finding'}); root cause "
                      f"{'right' if r.root_cause_ok else 'wrong'}; control "
                      f"{'clean' if not r.control_findings else ', '.join(r.control_findings)}"
                      + (f" (both releases: {', '.join(r.control_shared)})" if r.control_shared else "")
                      + f"; {r.time_s} s"
                      + (f"; error {r.error}" if r.error else ""), highlight=False)
    total = summary(results)
    if json_path:
        Path(json_path).write_text(json.dumps({"summary": total, "cases": [r.to_dict() for r in results]}, indent=1))
    for package, p in sorted(total["packages"].items()):
        click.echo(f"{package}: {p['detected']}/{p['cases']} detected, {p['controls_clean']}/{p['cases']} controls clean")
    click.echo(f"total: {total['detected']}/{total['cases']} detected, {total['controls_clean']}/{total['cases']} "
               f"controls clean, {total['time_s']} s")
    ok = all(r.detected for r in results if r.detectable) and total["controls_clean"] == total["cases"]
    sys.exit(0 if ok else 1)


@difftest.command("list")
def list_things() -> None:
    """Print the oracles, prompt suites, tolerance profiles and planted-fault plugins."""
    from enginebugs.difftest.catalogue import ORACLES
    from enginebugs.difftest.faults import FAULTS
    from enginebugs.difftest.suites import available_suites
    from enginebugs.difftest.tolerances import PROFILES, load_profile

    click.echo("Oracles:")
    for o in ORACLES.values():
        click.echo(f"  {o.name:26} {o.description}")
    click.echo("Suites: " + ", ".join(available_suites()))
    click.echo("Tolerance profiles (pair classes):")
    for name in PROFILES:
        click.echo(f"  {name:8} " + ", ".join(sorted(load_profile(name).classes)))
    click.echo("Planted faults (--engine-plugin enginebugs.difftest.faults:NAME, configs NAME:f32:wraps=ENGINE):")
    for name, cls in FAULTS.items():
        click.echo(f"  {name:24} {(cls.__doc__ or '').splitlines()[0]}")


from enginebugs.difftest.campaign.cli import campaign; difftest.add_command(campaign)  # noqa: E402,E702
from enginebugs.difftest.explain import explain; difftest.add_command(explain)  # noqa: E402,E702
from enginebugs.difftest.calibrate import calibrate; difftest.add_command(calibrate)  # noqa: E402,E702
from enginebugs.difftest.matrix_cli import matrix; difftest.add_command(matrix)  # noqa: E402,E702
from enginebugs.difftest.serving.cli import serve; difftest.add_command(serve)  # noqa: E402,E702
