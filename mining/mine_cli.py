"""``enginebugs mine``: pull bug issues and their fixing pull requests from GitHub into the store."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from enginebugs.mining import sampling
from enginebugs.mining.client import (DEFAULT_API_URL, TOKEN_ENV, ClientSettings, GitHubClient, check_api_url,
                                      tokens_from_env)
from enginebugs.mining.errors import MineError
from enginebugs.mining.hydrate import Hydrator
from enginebugs.mining.miner import Miner
from enginebugs.mining.parse import user_date
from enginebugs.mining.presets import STATES, PresetError, load_presets
from enginebugs.mining.progress import Reporter
from enginebugs.mining.replay import prune as prune_archive
from enginebugs.mining.replay import replay
from enginebugs.taxonomy.cliutil import UserError, db_option, open_store
from enginebugs.taxonomy.store import Store


class RunError(UserError):
    """GitHub could not be mined (after retries): one ``error:`` line, exit code 1."""

    exit_code = 1


class MineGroup(click.Group):
    """``mine ENGINE...`` is short for ``mine sync ENGINE...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["sync", *args]
        return super().parse_args(ctx, args)


@click.group(cls=MineGroup)
def mine() -> None:
    """Mine bug issues and their fixing pull requests from GitHub into the store.

    \b
    enginebugs mine ENGINE_OR_REPO...   same as `mine sync`: incremental, resumable sync
    enginebugs mine hydrate             fill records that only have a URL (the paper's data)
    enginebugs mine sample ENGINE       Cochran-sized random sample for labelling
    enginebugs mine presets             the engines known by name and their bug rules
    enginebugs mine replay ARCHIVE      rebuild a store from another's raw-response archive, offline
    enginebugs mine archive [--prune]   size of the archive; keep only the newest responses

    The token comes from $GITHUB_TOKEN (or --token-env NAME); several tokens separated by commas
    are rotated by remaining quota. Tokens are never printed, logged or stored.
    """


def client_options(command: Callable) -> Callable:
    """Options shared by every command that talks to GitHub."""
    options = [
        click.option("--api-url", default=DEFAULT_API_URL, show_default=True, envvar="GITHUB_API_URL",
                     help="REST API root: GitHub Enterprise is https://HOST/api/v3 (also $GITHUB_API_URL)."),
        click.option("--token-env", default=TOKEN_ENV, show_default=True, metavar="NAME",
                     help="Environment variable holding the token(s); separate several with commas."),
        click.option("--timeout", type=click.IntRange(1), default=15, show_default=True, help="Seconds per request."),
        click.option("--retries", type=click.IntRange(0), default=5, show_default=True,
                     help="Retries of a 5xx, timeout, broken connection or secondary rate limit."),
        click.option("--backoff", type=click.FloatRange(0), default=1.0, show_default=True,
                     help="First retry delay in seconds; doubles on each retry."),
        click.option("--min-quota", type=click.IntRange(0), default=50, show_default=True,
                     help="Switch token, or wait for the reset, when fewer requests are left."),
        click.option("--progress-every", type=click.FloatRange(0), default=30.0, show_default=True,
                     metavar="SECONDS", help="When stderr is not a terminal (CI, nohup): a plain progress "
                                             "line this often."),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def _client(params: dict, reporter: Reporter) -> GitHubClient:
    try:
        api_url = check_api_url(params.pop("api_url"))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    reporter.every = params.pop("progress_every")
    tokens = tokens_from_env(params.pop("token_env"))
    if not tokens:
        reporter.note("warning: no GitHub token in the environment: unauthenticated requests (60 an hour)")
    settings = ClientSettings(api_url=api_url, timeout=params.pop("timeout"),
                              retries=params.pop("retries"), backoff=params.pop("backoff"),
                              min_quota=params.pop("min_quota"))
    return GitHubClient(tokens, settings, reporter)


@contextmanager
def _reported(client: GitHubClient | None = None) -> Iterator[None]:
    """Turn failures into one ``error:`` line; an interrupt keeps the checkpoint."""
    redact = client.redact if client else str
    try:
        yield
    except PresetError as exc:
        raise UserError(str(exc)) from None
    except MineError as exc:
        raise RunError(redact(str(exc))) from None
    except KeyboardInterrupt:
        click.echo("interrupted: progress up to the last page is saved; rerun the same command to resume",
                   err=True)
        sys.exit(130)


@contextmanager
def _run_store(db: str) -> Iterator[Store]:
    """The store a run writes to; a run that fails before writing anything leaves no new file behind."""
    fresh = not Path(db).exists()
    store = open_store(db)
    try:
        with store:
            yield store
    except BaseException:
        if fresh and _untouched(db):
            Path(db).unlink(missing_ok=True)
        raise


def _untouched(db: str) -> bool:
    with Store.open(db, readonly=True) as store:
        return not any(store.count(t) for t in ("records", "raw_responses", "sync_state"))


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


@mine.command("sync")
@click.argument("targets", nargs=-1, required=True, metavar="ENGINE_OR_REPO...")
@click.option("--since", metavar="DATE", help="Only issues created on or after DATE (YYYY-MM-DD or ISO time).")
@click.option("--until", metavar="DATE", help="Only issues created on or before DATE (a bare date includes the day).")
@click.option("--state", type=click.Choice(STATES), help="Issue state (preset rule: closed).")
@click.option("--labels", metavar="A,B", help='Required labels, all of them (preset rule: bug); "" for none.')
@click.option("--keywords", metavar="A,B", help="Keep issues whose title or body contains any of these.")
@click.option("--include-prs/--no-include-prs", default=None, help="Also store pull requests matching the rule.")
@click.option("--comments", is_flag=True, help="Also fetch and store each issue's comments.")
@click.option("--fixes/--no-fixes", default=True, show_default=True, help="Find each closed bug's fixing PR.")
@click.option("--fix-search/--no-fix-search", default=True, show_default=True,
              help="Fall back to the search API (30 requests a minute) for fixes the timeline does not show.")
@click.option("--limit", type=click.IntRange(1), help="Stop after this many new or updated records per repository.")
@click.option("--graphql", is_flag=True, help="List issues with their timelines and fix PRs through the GraphQL "
                                               "API (50 issues a request; needs a token; REST if unavailable).")
@click.option("--presets", type=click.Path(dir_okay=False), help="Presets file (default: packaged presets.toml).")
@db_option
@client_options
def sync_cmd(targets: tuple[str, ...], since, until, state, labels, keywords, include_prs, comments, fixes,
             fix_search, limit, graphql, presets, db, **params) -> None:
    """Sync the bug issues of engines (by preset name) or any owner/name repositories.

    Lists issues with `since` = the last sync and `sort=updated`, oldest first, so a rerun asks only
    for what changed. Each page is committed with its checkpoint: a killed run resumes where it
    stopped, with no duplicates or gaps. Records are keyed by URL; labels assigned in the store are
    kept when an issue changes upstream.

    \b
    Examples:
      enginebugs mine vllm llama.cpp --since 2025-01-01
      enginebugs mine someone/engine --labels crash --keywords cuda,rocm --state all
      GITHUB_TOKEN=tok1,tok2 enginebugs mine deepspeed --comments
    """
    reporter = Reporter()
    with _reported():
        catalogue = load_presets(presets)
        resolved = [catalogue.resolve(t) for t in targets]
        for date in filter(None, (since, until)):
            _check_date(date)
    client = _client(params, reporter)
    with _reported(client), _run_store(db) as store:
        total = [0, 0, 0, 0]
        for target in resolved:
            summary = Miner(target, store=store, client=client, since=since, until=until, labels=_csv(labels),
                            state=state, keywords=_csv(keywords), include_prs=include_prs, comments=comments,
                            limit=limit, link_fixes=fixes, fix_search=fix_search, reporter=reporter,
                            graphql=graphql).sync()
            _show_problems(summary.problems)
            click.echo(summary.line())
            for i, n in enumerate((summary.new, summary.updated, summary.unchanged, summary.requests)):
                total[i] += n
        if len(resolved) > 1:
            click.echo(f"total: {total[0]} new, {total[1]} updated, {total[2]} unchanged, {total[3]} requests")


def _check_date(value: str) -> None:
    try:
        user_date(value)
    except ValueError:
        raise UserError(f"not a date: {value!r} (use YYYY-MM-DD or an ISO time)") from None


@mine.command("hydrate")
@click.option("--comments", is_flag=True, help="Also fetch each issue's comments.")
@click.option("--fixes/--no-fixes", default=True, show_default=True, help="Find each closed bug's fixing PR.")
@click.option("--fix-search/--no-fix-search", default=True, show_default=True,
              help="Fall back to the search API for fixes the timeline does not show.")
@click.option("--limit", type=click.IntRange(1), help="Hydrate at most this many records.")
@click.option("--engine", help="Only records of this engine (display name, e.g. vLLM).")
@click.option("--presets", type=click.Path(dir_okay=False), help="Presets file (maps former repository names).")
@db_option
@client_options
def hydrate_cmd(comments, fixes, fix_search, limit, engine, presets, db, **params) -> None:
    """Fetch title, body, dates, labels and fix linkage for records that have only a URL.

    Typically after `enginebugs study import`: the paper's 929 bugs become full records. Records
    GitHub no longer serves (404/410) are reported as unreachable and the run goes on; each record
    is committed on its own, so an interrupted run continues where it stopped.
    """
    reporter = Reporter()
    with _reported():
        catalogue = load_presets(presets)
    client = _client(params, reporter)
    with _reported(client), _run_store(db) as store:
        summary = Hydrator(store, client, presets=catalogue, comments=comments, link_fixes=fixes,
                           fix_search=fix_search, limit=limit, engine=engine, reporter=reporter).run()
    _show_problems(summary.unreachable)
    click.echo(summary.line())


def _show_problems(problems: list[tuple[str, str]], shown: int = 10) -> None:
    for url, reason in problems[:shown]:
        click.echo(f"unreachable: {url} ({reason})", err=True)
    if len(problems) > shown:
        click.echo(f"... and {len(problems) - shown} more unreachable", err=True)


@mine.command("sample")
@click.argument("engine")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Confidence level of the estimate.")
@click.option("--margin", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="Margin of error.")
@click.option("--seed", type=int, required=True, help="Random seed: the same seed draws the same sample.")
@click.option("--unlabelled", is_flag=True, help="Draw only from bugs that carry no taxonomy labels yet.")
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True,
              help="CSV to write (in the paper's dataset columns, label columns empty).")
@click.option("--presets", type=click.Path(dir_okay=False), help="Presets file (to resolve ENGINE).")
@db_option
def sample_cmd(engine, confidence, margin, seed, unlabelled, out, presets, db) -> None:
    """Draw the paper's random sample of ENGINE's mined bugs for labelling.

    Size: Cochran's n0 = z^2 p(1-p) / e^2 with p = 0.5, corrected for the finite population N:
    n = n0 / (1 + (n0 - 1) / N), rounded up. The bugs are the engine's issue records with a title
    (mined or hydrated).

    \b
    Example:
      enginebugs mine sample vllm --seed 7 --out vllm-sample.csv
    """
    with _reported():
        name = load_presets(presets).resolve(engine).engine
    with open_store(db, readonly=True) as store:
        population = sampling.population(store, name, unlabelled=unlabelled)
        if not population:
            raise UserError(f"no mined bugs of {name} in {db}: run `enginebugs mine {engine}` first")
        size = sampling.cochran_size(len(population), confidence, margin)
        chosen = sampling.draw(population, size, seed)
    if out == "-":
        sampling.write_csv(chosen, sys.stdout)
    else:
        with Path(out).open("w", encoding="utf-8", newline="") as handle:
            sampling.write_csv(chosen, handle)
    click.echo(f"sampled {size} of {len(population)} {name} bugs (confidence {confidence}, margin {margin}, "
               f"seed {seed}){'' if out == '-' else ' -> ' + out}", err=True)


@mine.command("replay")
@click.argument("archive", type=click.Path(dir_okay=False))
@click.option("--presets", type=click.Path(dir_okay=False), help="Presets file (engine names of the repositories).")
@db_option
def replay_cmd(archive, presets, db) -> None:
    """Rebuild the store --db from the raw responses archived in the store ARCHIVE, offline.

    Every sync ARCHIVE recorded is run again with the archive answering instead of GitHub, so
    --db gets the records the live syncs made (without labels assigned since).

    \b
    Example:
      enginebugs mine replay mined.db --db rebuilt.db
    """
    if Path(archive).resolve() == Path(db).resolve():
        raise UserError("ARCHIVE and --db must be different stores")
    with _reported():
        catalogue = load_presets(presets)
    with open_store(archive, readonly=True) as source:
        if not source.count("raw_responses"):
            raise UserError(f"{archive} has no archived responses")
        with _reported(), _run_store(db) as store:
            summary = replay(source, store, presets=catalogue, reporter=Reporter())
    for sync in summary.syncs:
        _show_problems(sync.problems)
    click.echo(summary.line())


@mine.command("archive")
@click.option("--prune", is_flag=True, help="Delete all but the newest --keep responses of each URL.")
@click.option("--keep", type=click.IntRange(1), default=1, show_default=True, help="Responses kept per URL.")
@db_option
def archive_cmd(prune, keep, db) -> None:
    """Size of the raw-response archive (what `mine replay` rebuilds from); --prune bounds it."""
    with open_store(db, readonly=not prune) as store:
        if prune:
            gone = prune_archive(store, keep)
            click.echo(f"pruned {gone} archived responses (kept the newest {keep} per URL)")
        rows, urls, size = store.conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT url), COALESCE(SUM(LENGTH(body)), 0) FROM raw_responses").fetchone()
    click.echo(f"{db}: {rows} archived responses of {urls} URLs, {size / 1e6:.1f} MB of bodies")


@mine.command("presets")
@click.option("--presets", type=click.Path(dir_okay=False), help="Presets file (default: packaged presets.toml).")
def presets_cmd(presets) -> None:
    """List the engines known by name: repository, former names and bug rule."""
    with _reported():
        catalogue = load_presets(presets)
    click.echo(f"# {catalogue.source}")
    for t in catalogue.targets:
        former = f" (formerly {', '.join(t.former_names)})" if t.former_names else ""
        keywords = f", keywords {','.join(t.rule.keywords)}" if t.rule.keywords else ""
        paper = " [paper]" if t.in_paper else ""
        click.echo(f"{t.engine:<17} {t.repo}{former}: {t.rule.state} issues labelled "
                   f"{' + '.join(t.rule.labels) or '(any)'}{keywords}{paper}")
