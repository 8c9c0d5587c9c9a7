"""pytest plugin (entry point ``pytest11``): the ``enginebugs_difftest`` fixture.

An engine user guards a model in their own test suite::

    def test_my_model(enginebugs_difftest):
        result = enginebugs_difftest(model="models/my-model", configs=["transformers:f32", "llamacpp:f32"],
                                     baseline="ci/difftest-baseline.json")
        assert not result.new_findings, result.describe_new()

The fixture runs exactly what ``enginebugs difftest run`` runs (same arguments, same checks, same
JUnit/JSON/markdown writers, ``result.exit_code`` is the command's) and returns its
:class:`~enginebugs.difftest.results.RunResult`. Bad arguments raise ``ValueError`` with the CLI's
one-line message. ``--enginebugs-cache DIR`` (or ``$ENGINEBUGS_CACHE``) sets the model cache.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("enginebugs", "enginebugs differential testing")
    group.addoption("--enginebugs-cache", default=None, metavar="DIR",
                    help="Model cache for the enginebugs_difftest fixture (default $ENGINEBUGS_CACHE or ~/.cache/enginebugs).")


def _joined(value: str | Iterable[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return ",".join(value)


@pytest.fixture
def enginebugs_difftest(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``enginebugs_difftest(model=..., configs=[...], **run options)`` -> the run's RunResult.

    Keywords are ``difftest run``'s options in Python spelling: ``model``, ``engines``, ``configs``
    (list or comma string), ``reference``, ``suite`` (default ``smoke``), ``profile``, ``tolerances``,
    ``seed``, ``timeout``, ``threads``, ``plugins``, ``baseline``, ``write_baseline``, ``json_path``,
    ``junit``, ``markdown``, ``db``, ``cache_dir``."""
    from enginebugs.difftest.cli import execute
    from enginebugs.taxonomy.cliutil import UserError

    def run(model: str = "tiny", configs: str | Iterable[str] | None = None, engines: str | Iterable[str] | None = None,
            suite: str = "smoke", plugins: Iterable[str] = (), cache_dir: str | None = None, **options: Any):
        try:
            return execute(model=str(model), configs=_joined(configs), engines=_joined(engines), suite=suite,
                           plugins=tuple(plugins), cache_dir=cache_dir or request.config.getoption("enginebugs_cache"),
                           **{k: (str(v) if k in _PATHS and v is not None else v) for k, v in options.items()})
        except UserError as exc:
            raise ValueError(exc.format_message()) from None

    return run


_PATHS = {"baseline", "write_baseline", "json_path", "junit", "markdown", "db", "tolerances"}
