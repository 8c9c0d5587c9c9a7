"""The model cache: a directory per recipe hash, built once, atomically, under a file lock."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """``cache_dir``, else ``$ENGINEBUGS_CACHE``, else ``~/.cache/enginebugs``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("ENGINEBUGS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "enginebugs"


def recipe_hash(recipe: dict[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable recipe."""
    blob = json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Return ``target``; if missing, run ``build(tmpdir)`` and rename it into place.

    A ``.complete`` marker distinguishes a finished build from a crashed one; concurrent builders
    wait on a lock instead of building twice."""
    marker = target / ".complete"
    if marker.exists():
        return target
    with _locked(target.parent / f".{target.name}.lock"):
        if marker.exists():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            build(tmp)
            (tmp / ".complete").write_text("ok\n")
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target
