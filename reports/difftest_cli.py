"""``enginebugs report difftest``: render a difftest results file as HTML and/or markdown."""
from __future__ import annotations

from pathlib import Path

import click

from enginebugs.taxonomy.cliutil import UserError


@click.command("difftest")
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--html", "html_dir", type=click.Path(file_okay=False),
              help="Write index.html and the KLD/Δp histogram PNGs into this folder.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the markdown summary here ('-' for standard output, e.g. >> $GITHUB_STEP_SUMMARY).")
def difftest_cmd(results: str, html_dir: str | None, markdown_path: str | None) -> None:
    """Report on a difftest results JSON (from 'difftest run --json-out FILE' or 'difftest campaign').

    \b
    The HTML page has the headline numbers, the findings table (symptom, candidate root cause,
    component from the study's taxonomy), per-oracle summaries, KL-divergence and Δp histograms,
    the first-divergence context of every finding, the tokenizer campaign and links to the
    reproduction scripts a campaign wrote. Without --html/--markdown the headline is printed.

    \b
    Examples:
      enginebugs report difftest reports-out/gemma3/campaign.json --html reports-out/gemma3
      enginebugs report difftest run.json --markdown - >> "$GITHUB_STEP_SUMMARY"
    """
    from enginebugs.reports.difftest_report import ReportInputError, headline, load_results, render_markdown, write_html

    try:
        data = load_results(results)
    except ReportInputError as exc:
        raise UserError(str(exc)) from None
    if html_dir:
        click.echo(f"wrote {write_html(data, Path(html_dir))}", err=markdown_path == "-")
    if markdown_path:
        text = render_markdown(data)
        if markdown_path == "-":
            click.echo(text, nl=False)
        else:
            Path(markdown_path).write_text(text, encoding="utf-8")
            click.echo(f"wrote {markdown_path}")
    if not html_dir and not markdown_path:
        for line in headline(data):
            click.echo(line)
