"""SQLite store of bug records and their label assignments."""
from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from taxonomy.store.migrations import MIGRATIONS

DB_ENV = "ENGINEBUGS_DB"
DEFAULT_DB = "enginebugs.db"
SOURCES = ("paper", "manual", "classifier", "difftest", "arbitration")
JSON_FIELDS = ("labels", "comments", "extra")
RECORD_FIELDS = (
    "url", "engine", "repo", "number", "kind", "title", "body", "state", "author_association",
    "labels", "comments_count", "comments", "created_at", "updated_at", "closed_at", "fix_url",
    "fix_number", "fix_merged_at", "fix_files_changed", "fix_additions", "fix_deletions",
    "time_to_fix_days", "extra", "hydrated_at",
)


def default_path() -> Path:
    """The store path: ``$ENGINEBUGS_DB`` or ``./enginebugs.db``."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


class Store:
    """One SQLite file. Use :meth:`transaction` around every write that must be all-or-nothing."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: str | os.PathLike | None = None) -> "Store":
        path = Path(path) if path else default_path()
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        store = cls(conn, path)
        store.migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        """Apply every migration newer than the file's ``user_version``."""
        current = self.schema_version
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.transaction():
                for statement in script.split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing block; nested calls join the outer transaction."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- records -----------------------------------------------------------------------------
    def upsert_record(self, record: dict[str, Any]) -> int:
        """Insert or update a record keyed by URL; fields left out keep their stored values."""
        unknown = set(record) - set(RECORD_FIELDS)
        if unknown:
            raise ValueError(f"unknown record fields: {sorted(unknown)}")
        values = {k: (json.dumps(v) if k in JSON_FIELDS and v is not None else v) for k, v in record.items()}
        cols = list(values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "url")
        sql = (
            f"INSERT INTO records ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT(url) DO UPDATE SET {updates or 'url = url'} RETURNING id"
        )
        return self.conn.execute(sql, [values[c] for c in cols]).fetchone()[0]

    def get_record(self, url: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM records WHERE url = ?", (url,)).fetchone()
        return _decode(row) if row else None

    def records(self, engine: str | None = None, kind: str | None = None,
                where: str = "", params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
        """Records as dicts, optionally filtered by engine, kind or an extra SQL condition."""
        clauses, args = [], []
        if engine:
            clauses.append("engine = ?")
            args.append(engine)
        if kind:
            clauses.append("kind = ?")
            args.append(kind)
        if where:
            clauses.append(f"({where})")
            args.extend(params)
        sql = "SELECT * FROM records" + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY id"
        for row in self.conn.execute(sql, args):
            yield _decode(row)

    def count(self, table: str = "records") -> int:
        if table not in ("records", "labels", "raw_responses", "sync_state"):
            raise ValueError(table)
        return self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # -- labels ------------------------------------------------------------------------------
    def set_labels(self, record_id: int, dimension: str, values: list[str], *, source: str,
                   coder: str = "", confidences: list[float] | None = None) -> None:
        """Replace one coder's labels of one dimension for a record (values are taxonomy slugs)."""
        if source not in SOURCES:
            raise ValueError(f"unknown label source {source!r}")
        self.conn.execute(
            "DELETE FROM labels WHERE record_id = ? AND dimension = ? AND coder = ? AND source = ?",
            (record_id, dimension, coder, source),
        )
        self.conn.executemany(
            "INSERT INTO labels (record_id, dimension, value, position, coder, source, confidence) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (record_id, dimension, v, i, coder, source, confidences[i] if confidences else None)
                for i, v in enumerate(values)
            ],
        )

    def labels(self, record_id: int | None = None, source: str | None = None,
               coder: str | None = None) -> list[dict[str, Any]]:
        clauses, args = [], []
        for col, val in (("record_id", record_id), ("source", source), ("coder", coder)):
            if val is not None:
                clauses.append(f"{col} = ?")
                args.append(val)
        sql = "SELECT * FROM labels" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY record_id, dimension, position", args)]


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    rec = dict(row)
    for key in JSON_FIELDS:
        if rec.get(key) is not None:
            rec[key] = json.loads(rec[key])
    return rec
