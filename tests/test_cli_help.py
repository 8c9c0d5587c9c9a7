"""Every command and option explains itself in --help, and the documented spellings work."""
from __future__ import annotations

import click
from click.testing import CliRunner

from enginebugs.cli import main


def _commands(cmd: click.Command, path: tuple[str, ...] = ("enginebugs",)):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))


def test_every_command_and_visible_option_has_help_text():
    missing = [f"{' '.join(path)} {'/'.join(p.opts)}" for path, cmd in _commands(main) for p in cmd.params
               if isinstance(p, click.Option) and not p.hidden and not p.help and p.name != "help"]
    undocumented = [" ".join(path) for path, cmd in _commands(main) if not cmd.help]
    assert not missing and not undocumented, (missing, undocumented)


def test_study_import_shows_its_path_as_optional():
    out = CliRunner().invoke(main, ["study", "import", "--help"]).output
    assert "study import [OPTIONS] [PATH]" in out


def test_deprecated_spellings_still_work_and_say_so(tmp_path):
    runner = CliRunner()
    db = tmp_path / "s.db"
    assert runner.invoke(main, ["study", "import", "--db", str(db)]).exit_code == 0
    old = runner.invoke(main, ["report", "export", "--db", str(db), str(tmp_path / "old")])
    assert old.exit_code == 0 and "warning: the positional OUT_DIR is deprecated" in old.output and (tmp_path / "old" / "records.csv").is_file()
    new = runner.invoke(main, ["report", "export", "--db", str(db), "--out", str(tmp_path / "new")])
    assert new.exit_code == 0 and "warning:" not in new.output
    labels = runner.invoke(main, ["label", "export", "--coder", "a", "--db", str(db), "--output", str(tmp_path / "l.csv")])
    assert labels.exit_code == 0 and "warning: --output is deprecated" in labels.output and (tmp_path / "l.csv").is_file()
