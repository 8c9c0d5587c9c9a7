"""The bug taxonomy as data, the store of labelled bug records, labelling and the pre-label classifier."""
from enginebugs.taxonomy.model import ALL_DIMENSIONS, DIMENSIONS, TAXONOMY, Entry, Taxonomy, UnknownCategory, load

__all__ = ["ALL_DIMENSIONS", "DIMENSIONS", "TAXONOMY", "Entry", "Taxonomy", "UnknownCategory", "load"]
