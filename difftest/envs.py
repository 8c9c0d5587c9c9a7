"""Worker environments: one virtual environment per resolved requirement set and Python version.

A versioned configuration (``transformers@5.23.0:f32``, ``...:with=tokenizers==0.21.0``) runs its
worker under the interpreter of an environment in the cache (``<cache>/envs/<slug>-<key>``),
created on first use and reused afterwards (no network once built). Two flavours:

* ``overlay`` (the default): a bare venv whose ``.pth`` appends this interpreter's site-packages,
  so torch (2.13.0 CPU), numpy and the rest come from the main environment and only the pinned
  packages (and what their pins force) are installed into the venv, which shadows the base. A
  pure-Python pin builds in seconds. The project itself is imported from the base (wheel install)
  or from the source checkout the worker puts on ``PYTHONPATH``: nothing of it is copied.
* ``isolated``: a full venv with every requirement (vLLM's CPU build pins its own torch and
  transformers); torch is held at the CPU build, CUDA-ABI extras are removed, and the project is
  installed ``--no-deps`` (editable from a checkout; from an installed wheel, a link to the installed
  package) (``make vllm-env`` builds ``.venv-vllm`` through this flavour).

Packages that build from source (llama-cpp-python) are built once into ``<cache>/wheels`` and
installed from there. This module imports only the standard library (``vllm_env.sh`` runs it with
a bare ``python3``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

try:
    from enginebugs.difftest.models.cache import build_once, cache_root
except ImportError:  # run as a file by a bare python3 (vllm_env.sh): cache.py is standard library only
    sys.path.insert(0, str(Path(__file__).resolve().parent / "models"))
    from cache import build_once, cache_root  # type: ignore[no-redef]

#: The CPU torch every environment keeps (pip never pulls another one).
TORCH_PIN = "torch==2.13.0"
#: Distributions built from source: their wheels are built once into ``<cache>/wheels``.
SOURCE_BUILT = ("llama-cpp-python",)
#: Removed from an isolated environment after install (CUDA-ABI builds that break torch+cpu, triton).
ISOLATED_REMOVE = ("torchvision", "torchaudio", "torchcodec", "triton")
MARKER = ".env.json"
Progress = Callable[[str], None]


class EnvError(RuntimeError):
    """An environment that cannot be built (pip failed, no network for a package not yet cached)."""


def normalize(name: str) -> str:
    """PEP 503 name normalisation (``Llama_CPP.python`` -> ``llama-cpp-python``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pin(pin: str, bare: bool = False) -> tuple[str, str]:
    """``name==version`` -> (normalised name, version); anything else is a ValueError (with
    ``bare``, a name alone is allowed: version ``""``, whatever pip picks)."""
    name, sep, version = pin.strip().partition("==")
    if bare and not sep and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name.strip()):
        return normalize(name.strip()), ""
    if not sep or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name.strip()) or \
            not re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version.strip()):
        raise ValueError(f"pin {pin!r} must look like package==version")
    return normalize(name.strip()), version.strip()


def python_tag() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def base_site_dirs() -> list[str]:
    """The site-packages directories of this interpreter (its own and those it reaches by ``.pth``):
    what an overlay environment falls back to."""
    own = sysconfig.get_paths()["purelib"]
    dirs = [own] + [p for p in sys.path if p.rstrip("/").endswith("site-packages") and p != own]
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir()]


@dataclass(frozen=True)
class EnvSpec:
    """What an environment holds: sorted ``name==version`` requirements, the Python version and the
    flavour; ``base`` (overlay only) the site directories it falls back to. ``key`` hashes them all."""

    requirements: tuple[str, ...]
    python: str = field(default_factory=python_tag)
    flavour: str = "overlay"
    base: tuple[str, ...] = ()
    cpu_torch: bool = True

    @classmethod
    def of(cls, pins: list[str] | tuple[str, ...], flavour: str = "overlay", bare: bool = False,
           cpu_torch: bool = True) -> "EnvSpec":
        resolved = dict(parse_pin(p, bare) for p in pins)
        reqs = tuple(sorted(f"{n}=={v}" if v else n for n, v in resolved.items()))
        return cls(reqs, python_tag(), flavour, tuple(base_site_dirs()) if flavour == "overlay" else (), cpu_torch)

    @property
    def key(self) -> str:
        blob = json.dumps([self.requirements, self.python, self.flavour, self.base]).encode()
        return hashlib.sha256(blob).hexdigest()[:10]

    @property
    def slug(self) -> str:
        return "+".join(r.replace("==", "-") for r in self.requirements)[:80] or "empty"

    def path(self, cache_dir: Path | str | None = None) -> Path:
        return envs_root(cache_dir) / f"{self.slug}-py{self.python}-{self.key}"


def envs_root(cache_dir: Path | str | None = None) -> Path:
    return cache_root(cache_dir) / "envs"


def wheels_dir(cache_dir: Path | str | None = None) -> Path:
    return cache_root(cache_dir) / "wheels"


def interpreter(env: Path) -> Path:
    return env / "bin" / "python"


def ensure(spec: EnvSpec, cache_dir: Path | str | None = None, progress: Progress | None = None) -> Path:
    """The interpreter of ``spec``'s environment, building it first if it is not in the cache."""
    target = spec.path(cache_dir)
    if (target / ".complete").exists():
        os.utime(target / MARKER)  # last use, for `difftest envs`
        return interpreter(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _m: None)
    say(f"building worker environment {target.name} ({', '.join(spec.requirements)})")
    build_once(target, lambda tmp: _build(spec, tmp, cache_dir, say))
    return interpreter(target)


def site_packages(python: Path) -> Path:
    """The site-packages folder of the interpreter ``python``."""
    return Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())


def _pip(python: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", "-q", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        tail = "\n".join(line for line in (done.stdout + done.stderr).splitlines()
                         if "is ignored: it is neither a file nor a directory" not in line)[-2500:]
        raise EnvError(f"pip {' '.join(args[:2])} ... failed:\n{tail}")


def _source_wheels(spec: EnvSpec, python: Path, cache_dir: Path | str | None, say: Progress) -> None:
    """Build each source-built requirement's wheel once into the shared wheels folder."""
    wheels = wheels_dir(cache_dir)
    wheels.mkdir(parents=True, exist_ok=True)
    for req in spec.requirements:
        name, version = parse_pin(req, bare=True)
        if name not in SOURCE_BUILT or not version:
            continue
        stem = name.replace("-", "_")
        if any(wheels.glob(f"{stem}-{version}-*.whl")):
            continue
        say(f"building the {req} wheel from source (once per machine; minutes)")
        _pip(python, "wheel", "--no-deps", "-w", str(wheels), req)


def _build(spec: EnvSpec, tmp: Path, cache_dir: Path | str | None, say: Progress) -> None:
    t0 = time.perf_counter()
    shutil.rmtree(tmp, ignore_errors=True)  # build_once made it; venv wants to create it
    # No pip in the venv (ensurepip costs ~10 s): this interpreter's pip installs into it (--python).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp)], check=True, capture_output=True)
    python = interpreter(tmp)
    constraints = tmp / "constraints.txt"
    constraints.write_text(TORCH_PIN + "\n" if spec.cpu_torch else "")
    if spec.flavour == "overlay":
        site = site_packages(python)
        # addsitedir, not a bare path: the base's own .pth files (the project's editable finder,
        # a worktree's link to the main venv) must apply too; the base goes after the venv's own.
        (site / "_enginebugs_base.pth").write_text(
            "".join(f"import site; site.addsitedir({d!r})\n" for d in spec.base))
    _source_wheels(spec, python, cache_dir, say)
    extra = ["--find-links", str(wheels_dir(cache_dir))]
    reqs = list(spec.requirements) + ([TORCH_PIN] if spec.flavour == "isolated" and spec.cpu_torch else [])
    _pip(python, "install", "-c", str(constraints), *extra, *reqs)
    if spec.flavour == "isolated":
        if spec.cpu_torch:
            _pip(python, "uninstall", "-y", *ISOLATED_REMOVE)
        _install_project(python, tmp)
    installed = _installed(python)
    for req in spec.requirements:
        name, version = parse_pin(req, bare=True)
        if version and installed.get(name) != version:
            raise EnvError(f"{req} requested but the environment has {name} {installed.get(name)}")
    (tmp / MARKER).write_text(json.dumps({"requirements": list(spec.requirements), "python": spec.python,
                                          "flavour": spec.flavour, "base": list(spec.base),
                                          "built_in_s": round(time.perf_counter() - t0, 1),
                                          "installed": installed}, indent=1))


def _install_project(python: Path, env: Path, here: Path | None = None) -> None:
    """The project into an isolated environment, without its dependencies: editable from a source
    checkout (``here`` holds ``pyproject.toml``), else, run from an installed wheel (``here`` is the
    installed ``enginebugs`` package), a link to that package the environment finds by a ``.pth``."""
    here = here or Path(__file__).resolve().parents[1]
    if (here / "pyproject.toml").is_file():
        _pip(python, "install", "--no-deps", "-e", str(here))
        return
    holder = env / "enginebugs-project"
    holder.mkdir(exist_ok=True)
    (holder / here.name).symlink_to(here, target_is_directory=True)
    site = site_packages(python)
    # relative to the site folder, so the line survives build_once moving the env into place
    (site / "_enginebugs_project.pth").write_text(os.path.relpath(holder, site) + "\n")


def _installed(python: Path) -> dict[str, str]:
    """Normalised name -> version of what ``python`` imports first (the venv shadows its base)."""
    code = ("import json, importlib.metadata as m\nout = {}\n"
            "for d in m.distributions():\n"
            "    n = d.metadata['Name']\n"
            "    if n: out.setdefault(n, d.version)\n"
            "print(json.dumps(out))")
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return {normalize(k): v for k, v in json.loads(done.stdout).items()}


# ------------------------------------------------------------------------------------ listing
@dataclass
class EnvInfo:
    path: Path
    requirements: list[str]
    python: str
    flavour: str
    size_bytes: int
    complete: bool
    last_used: float
    built_in_s: float | None = None


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def list_envs(cache_dir: Path | str | None = None) -> list[EnvInfo]:
    """Every environment folder in the cache (complete or left by a crashed build)."""
    root, out = envs_root(cache_dir), []
    if not root.is_dir():
        return out
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        meta_file = path / MARKER
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        out.append(EnvInfo(path, meta.get("requirements", []), meta.get("python", "?"), meta.get("flavour", "?"),
                           dir_size(path), (path / ".complete").exists(),
                           meta_file.stat().st_mtime if meta_file.is_file() else path.stat().st_mtime,
                           meta.get("built_in_s")))
    return out


def prune(cache_dir: Path | str | None = None, keep: set[Path] | None = None) -> list[EnvInfo]:
    """Remove the cached environments not in ``keep`` (all by default); returns what was removed."""
    removed = []
    for info in list_envs(cache_dir):
        if keep and info.path in keep:
            continue
        shutil.rmtree(info.path, ignore_errors=True)
        removed.append(info)
    return removed


def build_at(target: Path, spec: EnvSpec, progress: Progress | None = None) -> Path:
    """Build ``spec`` in place in the fixed folder ``target`` (``.venv-vllm``: its scripts keep
    working), unless it already holds exactly that; returns its interpreter."""
    meta = target / MARKER
    if (target / ".complete").exists() and meta.is_file() and \
            json.loads(meta.read_text()).get("requirements") == list(spec.requirements):
        os.utime(meta)
        return interpreter(target)
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    (progress or print)(f"building {target} ({', '.join(spec.requirements)})")
    _build(spec, target, None, progress or print)
    (target / ".complete").write_text("ok\n")
    return interpreter(target)


def main(argv: list[str] | None = None) -> int:
    """``python difftest/envs.py --target DIR [--overlay] [--gpu] REQ...`` (how vllm_env.sh builds .venv-vllm)."""
    import argparse

    parser = argparse.ArgumentParser(prog="enginebugs.difftest.envs")
    parser.add_argument("--target", required=True)
    parser.add_argument("--overlay", action="store_true", help="fall back to this interpreter's packages")
    parser.add_argument("--gpu", action="store_true", help="let pip choose torch (no CPU pin, no clean-up)")
    parser.add_argument("pins", nargs="+")
    args = parser.parse_args(argv)
    try:
        spec = EnvSpec.of(args.pins, "overlay" if args.overlay else "isolated", bare=True, cpu_torch=not args.gpu)
        python = build_at(Path(args.target).resolve(), spec, lambda m: print(">> " + m, flush=True))
    except (EnvError, ValueError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f">> {python}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
