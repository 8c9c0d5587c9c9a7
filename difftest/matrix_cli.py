"""``enginebugs difftest matrix PLAN.toml``: the command over :mod:`enginebugs.difftest.matrix`."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from enginebugs.difftest.matrix import Cell, Plan, PlanError, environment, load_plan, run_matrix
from enginebugs.taxonomy.cliutil import UserError


def run_cell(plan: Plan, cell: Cell, *, progress: bool = False) -> dict[str, Any]:
    """One cell: ``difftest run`` of the plan's configurations on the cell's model, version and suite."""
    from enginebugs.difftest.cli import execute

    env = plan.versions[cell.version]
    executor = {"executor": plan.executor, "ray_address": plan.ray_address, "ray_resources": plan.ray_resources,
                "ray_replicas": plan.ray_replicas, "env": env}
    with environment(env):
        return execute(model=cell.model, configs=",".join(plan.configurations), reference=plan.reference,
                       suite=cell.suite, profile=plan.profile, tolerances=plan.tolerances, seed=plan.seed,
                       timeout=plan.timeout, threads=plan.threads, plugins=plan.plugins, quiet=not progress,
                       executor=executor).to_dict()


@click.command("matrix")
@click.argument("plan_file", metavar="PLAN.toml", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Folder of the cells and the merged report [default: PLAN's name + '-matrix' beside it].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def matrix(plan_file: str, out_dir: str | None, quiet: bool) -> None:
    """Run a plan of models x engine versions x suites over its configurations, locally or on Ray.

    \b
    Each cell is a full `difftest run`; finished cells are skipped on a rerun (resume after an
    interruption). Writes OUT/cells/*.json, OUT/matrix.json and OUT/matrix.md (which findings occur
    in which cells). Exit status: 0 no finding, 1 findings, 2 usage or input error.
    """
    try:
        plan = load_plan(plan_file)
    except PlanError as exc:
        raise UserError(str(exc)) from None
    from enginebugs.difftest.cli import build_configs

    build_configs(None, ",".join(plan.configurations), plan.plugins, plan.threads)  # bad plans fail before any cell
    out = Path(out_dir) if out_dir else plan.path.with_name(plan.path.stem + "-matrix")
    if not out.resolve().parent.is_dir():
        raise UserError(f"directory of {out} does not exist")
    report = run_matrix(plan, out, lambda p, c: run_cell(p, c, progress=not quiet),
                        log=lambda m: click.echo(m, err=True))
    finished = [r for r in report["cells"] if r["status"] == "finished"]
    click.echo(f"{len(finished)}/{len(report['cells'])} cells finished, {len(report['divergences'])} distinct "
               f"finding(s); report: {out / 'matrix.md'}", err=True)
    sys.exit(1 if report["divergences"] else 0)
