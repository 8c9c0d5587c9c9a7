"""``enginebugs difftest calibrate``: measure the noise floor of every same-engine pair and write
tolerances a run can use.

The floor of a metamorphic pair (KV cache vs recompute, cold vs hot prefix and every call of the
reuse sequence, chunked vs whole prefill, needle in a batch, batch order, another thread count)
is what the clean engine shows on it; so is the difference between two identical runs (repeat).
Each is measured as the largest |delta log-probability| and the mean / largest top-k KL
divergence (full-vocabulary KL for knob pairs) over the suite. The tolerance of the pair class
``same:<dtype>`` is ``multiple`` times the largest floor of any of its oracles (two significant
digits, rounded up; never below ``MINIMUM``), so a perturbation of 10x the floor is flagged. Tables
are named after the model they were measured on (``same:f32@llamacpp/batch.needle#tiny``).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from enginebugs.difftest.checks import RunData, evaluate
from enginebugs.difftest.oracles.cache import distribution_gate
from enginebugs.difftest.oracles.precision import generations_close, position_stats
from enginebugs.difftest.tolerances import Tolerance, ToleranceProfile, same_class

#: Judges everything as passing while keeping every metric.
MEASURE = ToleranceProfile("measure", {"*": Tolerance(False, 10 ** 6, math.inf, math.inf, math.inf, 0.0)})
#: Oracles judging a pair within one engine configuration (or one engine and dtype).
SAME_ORACLES = ("cache.kv_recompute", "cache.prefix_reuse", "cache.chunked_prefill", "cache.use_cache",
                "batch.needle", "batch.order", "precision.knobs", "repeat")
STATS = ("max_abs_logprob_delta", "kld_mean", "kld_max")
#: Smallest tolerance written, per statistic (a bitwise-equal floor must not give a zero tolerance).
MINIMUM = {"max_abs_logprob_delta": 1e-5, "kld_mean": 1e-9, "kld_max": 1e-8}
#: Statistic -> tolerance key.
KEY_OF = {"max_abs_logprob_delta": "logprob_atol", "kld_mean": "kld_mean", "kld_max": "kld_p99"}


def _raise(floor: dict[str, float], stats: dict[str, Any]) -> None:
    for key in STATS:
        value = stats.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            floor[key] = max(floor.get(key, 0.0), float(value))


def _key(config: Any) -> str:
    """``same:f32@llamacpp``: the pair class of one engine's same-dtype pairs."""
    return f"{same_class(config.dtype)}@{config.engine}"


def floors(data: RunData) -> dict[str, dict[str, dict[str, float]]]:
    """``{"same:<dtype>@<engine>": {oracle: {statistic: largest value}}}`` over one run's
    same-engine oracles."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    data.profile = MEASURE
    pairs: list[dict[str, Any]] = []
    by_label = {s.label: s for s in data.sessions}
    for o in evaluate(data, pairs):
        if o.verdict is None or o.oracle not in SAME_ORACLES:
            continue
        session = by_label[o.configs[-1]]
        if len(o.configs) == 2 and by_label[o.configs[0]].config.engine != session.config.engine:
            continue
        _raise(out.setdefault(_key(session.config), {}).setdefault(o.oracle, {}), o.verdict.metrics)
    for m in pairs:
        if m["pair_class"].startswith("same") and m["oracle"] in SAME_ORACLES:
            floor = out.setdefault(_key(by_label[m["actual"]].config), {}).setdefault(m["oracle"], {})
            _raise(floor, {"max_abs_logprob_delta": max(m["max_abs_logprob_delta"].values()),
                           "kld_mean": m["kld"]["mean"], "kld_max": m["kld"]["max"]})
    return out


def repeat_floors(first: RunData, second: RunData) -> dict[str, dict[str, dict[str, float]]]:
    """The same configurations run twice: generations and full prompt scores of run 2 vs run 1."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    tol = MEASURE.for_class("*")
    again = {s.label: s for s in second.sessions}
    for s in first.sessions:
        t = again.get(s.label)
        if t is None:
            continue
        floor = out.setdefault(_key(s.config), {}).setdefault("repeat", {})
        for j in range(len(first.prompts)):
            a, b = s.records.get(("gen", j)), t.records.get(("gen", j))
            if hasattr(a, "top") and hasattr(b, "top"):
                v = distribution_gate(generations_close(a, b, tol), a.top, b.top, tol)
                _raise(floor, v.metrics)
            x, y = s.arrays.get(("scores", j)), t.arrays.get(("scores", j))
            if x is not None and y is not None and x.shape == y.shape:
                kld = position_stats(x, y, first.prompt_ids[j][1:])["kld"]
                _raise(floor, {"kld_mean": float(kld.mean()) if len(kld) else 0.0,
                               "kld_max": float(kld.max()) if len(kld) else 0.0,
                               "max_abs_logprob_delta": float(abs(x - y).max()) if x.size else 0.0})
    return out


def merge(parts: Iterable[dict[str, dict[str, dict[str, float]]]]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for part in parts:
        for cls, oracles in part.items():
            for oracle, stats in oracles.items():
                _raise(out.setdefault(cls, {}).setdefault(oracle, {}), stats)
    return out


def round_up(value: float, digits: int = 2) -> float:
    """``value`` rounded up to ``digits`` significant digits."""
    if value <= 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(value)) - digits + 1)
    return math.ceil(value / scale - 1e-9) * scale


def _values(stats: Iterable[dict[str, float]], multiple: float) -> dict[str, float]:
    stats = list(stats)
    values = {}
    for stat in STATS:
        floor = max((s.get(stat, 0.0) for s in stats), default=0.0)
        values[KEY_OF[stat]] = float(f"{max(round_up(multiple * floor), MINIMUM[stat]):.2g}")
    return values


def tolerances(measured: dict[str, dict[str, dict[str, float]]], multiple: float = 5.0,
               model: str | None = None) -> dict[str, dict[str, float]]:
    """``{table: {tolerance key: value}}``, each ``multiple`` x a floor: ``same:<dtype>@<engine>/<oracle>``
    from that oracle's floor and the repeat floor of that engine; ``same:<dtype>`` from the largest
    floor of every engine and oracle (for engines and oracles not calibrated). With ``model``, every
    table is named ``...#<model>``: it applies to runs of that model only."""
    out: dict[str, dict[str, float]] = {}
    by_class: dict[str, list[dict[str, float]]] = {}
    for key, oracles in measured.items():
        repeat = oracles.get("repeat", {})
        by_class.setdefault(key.split("@")[0], []).extend(oracles.values())
        for oracle, stats in oracles.items():
            if oracle != "repeat":
                out[f"{key}/{oracle}"] = _values([stats, repeat], multiple)
    for cls, stats in by_class.items():
        out[cls] = _values(stats, multiple)
    return {f"{k}#{model}" if model else k: v for k, v in out.items()}


def to_toml(values: dict[str, dict[str, float]], measured: dict[str, dict[str, dict[str, float]]],
            profile: str, note: str) -> str:
    """A ``--tolerances`` file: the values under ``[profiles.<profile>."<class>"]``, floors as comments."""
    lines = [f"# Written by `enginebugs difftest calibrate` ({note}).", "# Measured floors (largest over the suite):"]
    for cls, oracles in sorted(measured.items()):
        for oracle, stats in sorted(oracles.items()):
            lines.append(f"#   {cls:9} {oracle:22} " + ", ".join(f"{k}={v:.3g}" for k, v in sorted(stats.items())))
    for cls, vals in sorted(values.items()):
        lines += ["", f'[profiles.{profile}."{cls}"]'] + [f"{k} = {v:g}" for k, v in vals.items()]
    return "\n".join(lines) + "\n"


def calibrate_runs(make_runner: Any, repeats: int = 2) -> dict[str, dict[str, dict[str, float]]]:
    """Run ``make_runner()`` ``repeats`` times (at least 1); the floors of every run and of every
    repeat against the first."""
    datas = []
    for _ in range(max(1, repeats)):
        runner = make_runner()
        runner.run()
        datas.append(runner._data)
    datas = [d for d in datas if d is not None]
    return merge([floors(d) for d in datas] + [repeat_floors(datas[0], d) for d in datas[1:]])


def write_profile(path: str | Path, measured: dict[str, dict[str, dict[str, float]]], multiple: float,
                  profile: str, note: str, model: str | None = None) -> dict[str, dict[str, float]]:
    values = tolerances(measured, multiple, model)
    Path(path).write_text(to_toml(values, measured, profile, note), encoding="utf-8")
    return values


@click.command("calibrate")
@click.option("--model", default="tiny", show_default=True, help="Model name or a ModelSpec .json file.")
@click.option("--engines", default="transformers,llamacpp,onnxruntime", show_default=True,
              help="Engines whose default configurations of --dtype are calibrated.")
@click.option("--configs", help="Configurations to calibrate instead (engine:dtype[:knob=value...]).")
@click.option("--dtype", default="f32", show_default=True, help="Dtype of the default configurations kept.")
@click.option("--suite", default="default", show_default=True, help="Prompt suite (name or .toml path).")
@click.option("--repeats", type=click.IntRange(1, 10), default=2, show_default=True,
              help="Runs of the same configurations (their difference is the repeat floor).")
@click.option("--threads", "thread_counts", default="1,2", show_default=True,
              help="Thread counts: the first pins every configuration, each other adds a threads=N variant "
                   "(engines with a threads knob).")
@click.option("--multiple", type=click.FloatRange(1.0, min_open=False), default=5.0, show_default=True,
              help="Tolerance = this multiple of the largest measured floor of the pair class.")
@click.option("--profile", default="default", show_default=True, help="Profile name the file's tables go under.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True, metavar="FILE",
              help="Tolerance file to write (use it with `run --tolerances FILE`).")
@click.option("--engine-plugin", "plugins", multiple=True, metavar="MODULE:FACTORY", help="Register another engine.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Model cache directory.")
@click.option("--json", "json_flag", is_flag=True, help="Print the floors and tolerances as JSON on stdout.")
def calibrate(model: str, engines: str, configs: str | None, dtype: str, suite: str, repeats: int,
              thread_counts: str, multiple: float, profile: str, out_path: str, plugins: tuple[str, ...],
              cache_dir: str | None, json_flag: bool) -> None:
    """Measure the noise floor of every same-engine pair and write tolerances.

    \b
    Runs the configurations --repeats times with the suite; the floor of each metamorphic oracle
    (KV vs recompute, prefix reuse sequence, chunked prefill, batch needle and order, thread counts,
    repeat) is its largest |delta logprob| and top-k / full KL divergence. Writes
    [profiles.PROFILE."same:DTYPE"] with MULTIPLE x the largest floor, the floors as comments.
    """
    import json

    from rich.console import Console

    from enginebugs.difftest.cli import build_configs, load_suite_and_profile, preflight_configs, resolve_model
    from enginebugs.difftest.protocol import EngineConfig
    from enginebugs.difftest.runner import Runner, RunOptions
    from enginebugs.taxonomy.cliutil import UserError

    if not Path(out_path).resolve().parent.is_dir():
        raise UserError(f"directory of {out_path} does not exist")
    try:
        counts = [int(t) for t in thread_counts.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"--threads must be comma-separated integers, not {thread_counts!r}") from None
    if not counts or min(counts) < 1:
        raise UserError("--threads needs at least one count >= 1")
    chosen_suite, _ = load_suite_and_profile(suite, "default", None)
    def chosen(threads: int) -> list:
        out = build_configs(None if configs else engines, configs, plugins, threads)
        return out if configs else [c for c in out if c.dtype == dtype]

    base = chosen(0)  # the engines' own thread counts; each count a variant of the knob-less base
    variants = [EngineConfig(p.engine, p.dtype, dict(p.options)) for n in counts
                for p, b in zip(chosen(n), base) if p.options != b.options and not b.options]
    config_list = base + variants
    if not config_list:
        raise UserError(f"no configuration of dtype {dtype!r} to calibrate")
    console = Console(stderr=True)
    spec = resolve_model(model, cache_dir, console)
    preflight_configs(spec, config_list)
    options = RunOptions(profile=MEASURE, plugins=plugins, progress=True)
    measured = calibrate_runs(lambda: Runner(spec, config_list, chosen_suite, options, console=console), repeats)
    note = (f"model {spec.name} {spec.recipe_hash}, suite {chosen_suite.name}, {repeats} runs, threads {counts}, "
            f"{multiple:g}x the floor; configurations {', '.join(c.label for c in config_list)}")
    values = write_profile(out_path, measured, multiple, profile, note, spec.name)
    console.print(f"wrote {out_path}: " + "; ".join(f"{cls} {v}" for cls, v in sorted(values.items())))
    if json_flag:
        click.echo(json.dumps({"floors": measured, "tolerances": values, "note": note}, indent=1))
