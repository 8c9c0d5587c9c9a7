"""A fake GitHub REST API for the miner's tests: synthetic data (``data``) served over HTTP (``server``)."""
from tests.github_fake.data import FIX_METHODS, FakeGitHub, FakeRepo, populate
from tests.github_fake.server import Fault, FakeServer

__all__ = ["FIX_METHODS", "Fault", "FakeGitHub", "FakeRepo", "FakeServer", "populate"]
