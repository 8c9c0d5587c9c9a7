"""The project's store: SQLite by default, schema versioned with migrations."""
from enginebugs.taxonomy.store.sqlite_store import DB_ENV, MACHINE_COLLECTIONS, SOURCES, Store, StoreError, default_path

__all__ = ["DB_ENV", "MACHINE_COLLECTIONS", "SOURCES", "Store", "StoreError", "default_path"]
