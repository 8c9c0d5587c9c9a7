"""Where configurations run: ``--executor local`` (one worker subprocess each, the default) or
``--executor ray`` (Ray actors, :mod:`enginebugs.difftest.ray_executor`); the options every command
that runs engines shares, and the runner's client factory they choose."""
from __future__ import annotations

from typing import Any, Callable

import click

from enginebugs.taxonomy.cliutil import UserError

EXECUTORS = ("local", "ray")


def executor_options(command: Callable) -> Callable:
    """``--executor``, ``--ray-address``, ``--ray-resources`` and ``--ray-replicas`` on a click command."""
    for option in reversed((
        click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
                     help="local: one worker process per configuration; ray: one Ray actor per configuration "
                          "(replica), on a local Ray instance or the cluster at --ray-address."),
        click.option("--ray-address", metavar="ADDR",
                     help="Ray cluster to use (auto, ray://HEAD:10001); default: start a local instance."),
        click.option("--ray-resources", multiple=True, metavar="CONFIG=cpus:N,gpus:M[,replicas:R]",
                     help="Resources one actor of a configuration (label or engine name) asks for (repeatable); "
                          "default: its threads as CPUs, 1 GPU per tensor-parallel rank for CUDA engines."),
        click.option("--ray-replicas", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Actors per configuration; the prompt set is sharded across them."),
    )):
        command = option(command)
    return command


def client_factory(model: Any, options: Any, configs: list, executor: str = "local", ray_address: str | None = None,
                   ray_resources: tuple[str, ...] = (), ray_replicas: int = 1,
                   env: dict[str, str] | None = None) -> Callable | None:
    """The runner's client factory for the chosen executor (None: the runner's default, local
    workers); ``env`` reaches Ray actors through their runtime environment (local workers inherit
    the process environment); bad resource specs or a missing Ray are one-line user errors."""
    if executor == "local":
        if ray_address or ray_resources or ray_replicas != 1:
            raise UserError("--ray-address/--ray-resources/--ray-replicas need --executor ray")
        return None
    from enginebugs.difftest.ray_executor import RayUnavailable, parse_resources, ray_factory

    try:
        return ray_factory(model, options, configs, address=ray_address, overrides=parse_resources(ray_resources),
                           replicas=ray_replicas, env=env)
    except (ValueError, RayUnavailable) as exc:
        raise UserError(str(exc)) from None
