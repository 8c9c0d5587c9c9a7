"""SQLite store of bug records and their label assignments."""
from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from enginebugs.taxonomy.store.migrations import MIGRATIONS

DB_ENV = "ENGINEBUGS_DB"
DEFAULT_DB = "enginebugs.db"
SOURCES = ("paper", "manual", "classifier", "difftest", "arbitration")
JSON_FIELDS = ("labels", "comments", "extra")
RECORD_FIELDS = (
    "url", "engine", "repo", "number", "kind", "title", "body", "state", "author_association",
    "labels", "comments_count", "comments", "created_at", "updated_at", "closed_at", "fix_url",
    "fix_number", "fix_merged_at", "fix_files_changed", "fix_additions", "fix_deletions",
    "time_to_fix_days", "extra", "hydrated_at", "collection",
)
#: Collections of machine findings, left out of the study unless asked for.
MACHINE_COLLECTIONS = ("difftest:",)


def default_path() -> Path:
    """The store path: ``$ENGINEBUGS_DB`` or ``./enginebugs.db``."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


class StoreError(ValueError):
    """A store that cannot be used: missing (for reading), not SQLite, damaged, another program's
    database, or written by a newer enginebugs. The message names the file."""


SQLITE_MAGIC = b"SQLite format 3\x00"


class Store:
    """One SQLite file. Use :meth:`transaction` around every write that must be all-or-nothing.

    ``Store.open(path)`` is the entry point: it checks the file, migrates it to the current schema
    and returns the store; ``Store.open(path, readonly=True)`` never writes to the file (a store of an
    older schema is migrated in a private in-memory copy), so reports work on read-only media."""

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool = False):
        self.conn = conn
        self.path = path
        self.readonly = readonly

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, readonly: bool = False) -> "Store":
        path = Path(path) if path else default_path()
        if path.is_dir():
            raise StoreError(f"{path} is a directory, not a store")
        if path.exists():
            _check_header(path)
        elif readonly:
            raise StoreError(f"no store at {path}: run 'enginebugs study import' or 'enginebugs mine' first")
        try:
            conn = _connect_readonly(path) if readonly else _connect(path)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a readable SQLite store ({exc})") from None
        store = cls(conn, path, readonly)
        try:
            version = store._checked_version()
            if not readonly:
                # A rollback journal, not WAL: readers of a closed store then create no side files
                # (-wal/-shm), so read-only commands leave the file system as they found it.
                conn.execute("PRAGMA journal_mode = DELETE")
            elif version < len(MIGRATIONS):
                store.conn = _in_memory_copy(conn)
            store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    def _checked_version(self) -> int:
        """The file's schema version after checking it is an intact enginebugs store."""
        try:
            version = self.schema_version
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            problems = [r[0] for r in self.conn.execute("PRAGMA quick_check(3)")]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a readable SQLite store ({exc})") from None
        if problems != ["ok"]:
            raise StoreError(f"{self.path} is damaged: {'; '.join(problems)}")
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} has schema version {version}, newer than this enginebugs understands "
                             f"({len(MIGRATIONS)}): upgrade enginebugs; the file was not touched")
        if version == 0 and tables:
            raise StoreError(f"{self.path} is a SQLite database of another program (tables: "
                             f"{', '.join(sorted(tables)[:5])}), not an enginebugs store")
        return version

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
        """Insert or update a record keyed by URL; fields left out keep their stored values. A
        record stays in the collection it was first written to (the paper's import of a bug the
        miner found first, or the reverse, does not move it)."""
        unknown = set(record) - set(RECORD_FIELDS)
        if unknown:
            raise ValueError(f"unknown record fields: {sorted(unknown)}")
        values = {k: (json.dumps(v) if k in JSON_FIELDS and v is not None else v) for k, v in record.items()}
        cols = list(values)
        updates = ", ".join(
            "collection = CASE records.collection WHEN '' THEN excluded.collection ELSE records.collection END"
            if c == "collection" else f"{c} = excluded.{c}" for c in cols if c != "url")
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

    def collections(self) -> dict[str, int]:
        """Record count of every collection, by name."""
        return dict(self.conn.execute("SELECT collection, COUNT(*) FROM records GROUP BY collection ORDER BY 1"))

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


def _check_header(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if head and head != SQLITE_MAGIC:
        raise StoreError(f"{path} is not a SQLite store (it starts with {head[:8]!r})")


def _prepared(conn: sqlite3.Connection) -> sqlite3.Connection:
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _connect(path: Path) -> sqlite3.Connection:
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    return _prepared(sqlite3.connect(path, isolation_level=None, timeout=30))


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """Open without any write; a store still in WAL mode (older enginebugs) on read-only media, where
    SQLite cannot make its -shm file, is opened as immutable."""
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA user_version").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)
    return _prepared(conn)


def _in_memory_copy(conn: sqlite3.Connection) -> sqlite3.Connection:
    """A private copy of a read-only store, so an older schema can be migrated without writing the file."""
    memory = sqlite3.connect(":memory:", isolation_level=None)
    conn.backup(memory)
    conn.close()
    return _prepared(memory)


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    rec = dict(row)
    for key in JSON_FIELDS:
        if rec.get(key) is not None:
            rec[key] = json.loads(rec[key])
    return rec
