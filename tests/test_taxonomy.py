from collections import Counter

import pytest

from enginebugs.taxonomy import TAXONOMY, UnknownCategory


def test_sizes_match_the_paper():
    sizes = {dim: len(entries) for dim, entries in TAXONOMY.entries.items()}
    assert sizes == {"symptom": 6, "root_cause_group": 5, "root_cause": 28, "component": 14, "phase": 3,
                     "output_subtype": 5}
    per_group = Counter(TAXONOMY.group_of(rc.slug).name for rc in TAXONOMY.root_causes)
    assert per_group == {"Functionality": 9, "Environment": 3, "Configuration": 6, "Input/Output": 6, "Resource": 4}


def test_slugs_unique_and_every_entry_defined():
    for dim, entries in TAXONOMY.entries.items():
        slugs = [e.slug for e in entries]
        assert len(set(slugs)) == len(slugs), dim
        assert all(e.definition and e.name for e in entries)


@pytest.mark.parametrize("key", ["Tester / Benchmarker", "tester-benchmarker", "TESTER/BENCHMARKER"])
def test_resolve_by_name_slug_or_alias(key):
    assert TAXONOMY.resolve("component", key).name == "Tester/Benchmarker"


def test_unknown_category_is_an_error():
    with pytest.raises(UnknownCategory, match="root cause 'Cosmic Rays'"):
        TAXONOMY.resolve("root_cause", "Cosmic Rays")
