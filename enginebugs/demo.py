"""``enginebugs demo``: the main job on embedded defaults, as a first-time user would run it."""
from __future__ import annotations

from pathlib import Path

import click


def _run(group: click.Group, args: list[str]) -> int:
    """Run a sub-command as if typed; return its exit code instead of exiting."""
    click.secho(f"\n$ enginebugs {' '.join(args)}", bold=True)
    try:
        group.main(args=args, prog_name="enginebugs", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-out", show_default=True,
              help="Folder for the demo's store, JSON/JUnit results and HTML reports.")
@click.pass_context
def demo(ctx: click.Context, out: str) -> None:
    """Import the paper's data and print its statistics, then run the differential tester on the
    tiny model across transformers, llama.cpp and ONNX Runtime and print the findings.

    A difftest finding is the demo working, not failing: the command exits 0 unless a step
    could not run at all.
    """
    root = ctx.find_root().command
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    db = str(out_dir / "demo.db")
    steps = [
        ["study", "import", "--db", db],
        ["report", "study", "--db", db, "--html", str(out_dir / "study")],
        ["difftest", "run", "--model", "tiny", "--db", db, "--json-out", str(out_dir / "difftest.json"),
         "--junit", str(out_dir / "difftest.xml")],
        ["report", "difftest", str(out_dir / "difftest.json"), "--html", str(out_dir / "difftest")],
    ]
    failed = []
    for args in steps:
        code = _run(root, args)
        if code not in (0, 1) or (code == 1 and args[0] != "difftest"):
            failed.append(" ".join(args[:2]))
    click.secho(f"\nDemo outputs in {out_dir}/ (store, difftest.json, difftest.xml, study/ and difftest/ HTML).",
                bold=True)
    if failed:
        raise click.ClickException(f"demo step(s) failed: {', '.join(failed)}")
