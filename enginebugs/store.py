"""The project's database, where a user meets it first: ``Store.open(path)``.

It lives in :mod:`enginebugs.taxonomy.store` (shared by mining, labelling, difftest and reports);
this module is its short public name."""
from enginebugs.taxonomy.store import MACHINE_COLLECTIONS, Store, StoreError

__all__ = ["MACHINE_COLLECTIONS", "Store", "StoreError"]
