"""The ``enginebugs`` command: composes the command groups of the sub-packages."""
from __future__ import annotations

import importlib

import click

from enginebugs import __version__
from enginebugs.demo import demo

#: (module, attribute) of every command group; each package owns its commands.
GROUPS = (
    ("enginebugs.mining.cli", "study"),
    ("enginebugs.mining.mine_cli", "mine"),
    ("enginebugs.reports.cli", "report"),
    ("enginebugs.taxonomy.cli", "taxonomy_group"),
    ("enginebugs.taxonomy.cli", "label"),
    ("enginebugs.taxonomy.cli", "classify"),
    ("enginebugs.difftest.cli", "difftest"),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="enginebugs")
def main() -> None:
    """Study bugs in LLM inference engines, and find new ones by differential testing.

    \b
    Typical first steps:
      enginebugs study import                     # the paper's 929 labelled bugs (shipped)
      enginebugs report study                                # every table of the paper
      enginebugs difftest run --model tiny                   # cross-engine differential test
    """


for module_name, attr in GROUPS:
    main.add_command(getattr(importlib.import_module(module_name), attr))

main.add_command(demo)

if __name__ == "__main__":
    main()
