"""A fake GitHub REST API for the miner's tests: synthetic data (``data``) served over HTTP (``server``)."""
from tests.github_fake.data import FIX_METHODS, LINKAGE_CASES, FakeGitHub, FakeRepo, populate, populate_linkage
from tests.github_fake.server import Fault, FakeServer

__all__ = ["FIX_METHODS", "LINKAGE_CASES", "populate_linkage", "Fault", "FakeGitHub", "FakeRepo", "FakeServer", "populate"]
