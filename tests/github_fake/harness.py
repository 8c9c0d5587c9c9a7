"""Helpers the miner's tests share: running ``enginebugs mine`` against the fake server, store snapshots."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from enginebugs.taxonomy.store import Store
from tests.github_fake.data import FakeGitHub, populate
from tests.github_fake.server import FakeServer

ROOT = Path(__file__).resolve().parents[2]


def fake_token(label: str) -> str:
    """A throw-away credential for the fake server, made at run time (no token-like string is
    committed); the random tail makes a leak into output or the store easy to grep for."""
    return f"test-token-{label}-{secrets.token_hex(12)}"


TOKEN = fake_token("synthetic")
# Fast failure handling for tests: short backoff and timeout.
FAST = ("--backoff", "0.05", "--timeout", "1")
VOLATILE = ("id", "inserted_at", "hydrated_at")


def mine(server: FakeServer, db: Path, *args: Any, token: str = TOKEN) -> Result:
    """``enginebugs mine ARGS --api-url <server> --db DB`` in-process, token in $GITHUB_TOKEN."""
    from enginebugs.cli import main

    argv = ["mine", *map(str, args), "--api-url", server.url, "--db", str(db), *FAST]
    return CliRunner().invoke(main, argv, env={"GITHUB_TOKEN": token, "GITHUB_API_URL": None})


def mine_process(server: FakeServer, db: Path, *args: Any, kill_at: int | None = None) -> subprocess.CompletedProcess:
    """The same in a child process; with ``kill_at`` the server SIGKILLs it at that request."""
    argv = [sys.executable, "-m", "enginebugs.cli", "mine", *map(str, args), "--api-url", server.url,
            "--db", str(db), *FAST]
    env = {**os.environ, "GITHUB_TOKEN": TOKEN}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if kill_at is not None:
        server.fault("kill", nth=kill_at, pid=proc.pid)
    out, _ = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(argv, proc.returncode, out)


def snapshot(db: Path) -> dict[str, dict[str, Any]]:
    """Every record by URL (without ids and timestamps of our own) with its taxonomy labels."""
    with Store.open(db) as store:
        records = {}
        for record in store.records():
            labels = sorted((l["dimension"], l["value"], l["source"]) for l in store.labels(record["id"]))
            records[record["url"]] = {**{k: v for k, v in record.items() if k not in VOLATILE}, "_labels": labels}
        return records


def sync_checkpoints(db: Path) -> list[dict[str, Any]]:
    with Store.open(db) as store:
        return [dict(r) for r in store.conn.execute("SELECT * FROM sync_state")]


def upstream(seed: int, bugs: int, repo: str = "vllm-project/vllm", *, noise: bool = False) -> FakeGitHub:
    """A fake GitHub holding one populated repository."""
    github = FakeGitHub(seed=seed)
    populate(github, repo, bugs, noise=noise)
    return github


def mined(github: FakeGitHub, db: Path, *args: Any) -> tuple[dict[str, dict[str, Any]], int]:
    """(snapshot, requests) of one fault-free ``mine ARGS`` run into a fresh ``db``."""
    with FakeServer(github) as server:
        result = mine(server, db, *args)
        assert result.exit_code == 0, result.output
        return snapshot(db), len(server.log)
