"""The project's store: SQLite by default, schema versioned with migrations."""
from taxonomy.store.sqlite_store import DB_ENV, SOURCES, Store, default_path

__all__ = ["DB_ENV", "SOURCES", "Store", "default_path"]
