"""Which packages a versioned configuration pins, checked against the range its adapter supports.

Each adapter declares ``package`` (the distribution ``engine@version`` pins) and ``supported``
(distribution -> lowest supported version, ``{"transformers": ">=4.50"}``). A pin outside the range,
a pin of an engine that declares no package, or one package pinned twice is a ValueError before
anything runs; :func:`worker_env` returns the environment a configuration's worker runs in.
"""
from __future__ import annotations

import re
from typing import Any

from enginebugs.difftest.envs import EnvSpec, normalize, parse_pin
from enginebugs.difftest.protocol import EngineConfig


def release(version: str) -> tuple[int, ...]:
    """``5.0.0rc1`` -> (5, 0, 0): the release numbers (a pre-release counts as its release)."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    if not match:
        raise ValueError(f"{version!r} is not a version")
    return tuple(int(p) for p in match.group(0).split("."))


def pinned_requirements(engine: Any, config: EngineConfig) -> list[str]:
    """``name==version`` pins of ``config`` (its ``@version`` first), range-checked for ``engine``."""
    pins: list[str] = []
    if config.version:
        package = getattr(engine, "package", None)
        if not package:
            raise ValueError(f"engine {config.engine!r} does not declare its package, so it cannot be pinned "
                             f"with @{config.version}")
        pins.append(f"{package}=={config.version}")
    pins += list(config.pins)
    seen: dict[str, str] = {}
    supported = {normalize(k): v for k, v in getattr(engine, "supported", {}).items()}
    for pin in pins:
        name, version = parse_pin(pin)
        if name in seen and seen[name] != version:
            raise ValueError(f"{name} is pinned twice ({seen[name]} and {version})")
        seen[name] = version
        if name in supported and release(version) < release(supported[name].removeprefix(">=")):
            raise ValueError(f"{name} {version} is outside the range the {config.engine} adapter supports "
                             f"({name}{supported[name]})")
    return [f"{n}=={v}" for n, v in seen.items()]


def worker_env(engine: Any, config: EngineConfig) -> EnvSpec | None:
    """The environment ``config``'s worker runs in (None: this interpreter's)."""
    if not config.versioned:
        return None
    return EnvSpec.of(pinned_requirements(engine, config), getattr(engine, "env_flavour", "overlay"))


def engine_of(config: EngineConfig) -> Any:
    """The (unloaded) engine a configuration runs, through a planted-fault wrapper to what it wraps."""
    from enginebugs.difftest.engines.registry import create_engine

    engine = create_engine(config.engine)
    knob = getattr(engine, "wraps_option", None)
    if knob:
        engine = create_engine(config.options.get(knob, getattr(engine, "default_wrapped", "transformers")))
    return engine


def config_env(config: EngineConfig) -> EnvSpec | None:
    """:func:`worker_env` of the engine ``config`` names."""
    return worker_env(engine_of(config), config) if config.versioned else None
