"""Several hosts: `jax.distributed` initialization from the command line or the environment.

JAX's own multi-process runtime joins N processes (one per host, each with its local devices)
into one set of global devices; after it, `fit(..., devices=jax.device_count())` trains over all
of them with the unchanged step (every process runs the same script on the same data and
keeps an identical copy of the results). What each process needs:

    coordinator address   host:port of process 0 (it listens there)   --coordinator / JDL_COORDINATOR
    number of processes   N                                              --num-processes / JDL_NUM_PROCESSES
    process id            0 .. N-1, unique per process                   --process-id / JDL_PROCESS_ID

`initialize` must run before anything touches a JAX device (JAX raises otherwise). On TPU
pods, Slurm and Open MPI JAX can detect all three itself: call `jax.distributed.initialize()`
without arguments there. On CPUs the collectives go through gloo.
"""
from __future__ import annotations

import argparse
import os

import jax

ENV = {"coordinator": "JDL_COORDINATOR", "num_processes": "JDL_NUM_PROCESSES",
       "process_id": "JDL_PROCESS_ID"}


def add_distributed_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --coordinator, --num-processes and --process-id to an experiment's parser."""
    group = parser.add_argument_group("several hosts (jax.distributed)")
    group.add_argument("--coordinator", default=None, help="host:port of process 0")
    group.add_argument("--num-processes", type=int, default=None)
    group.add_argument("--process-id", type=int, default=None)
    return parser


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, local_device_count: int | None = None) -> bool:
    """Join a multi-process JAX run; arguments default to $JDL_COORDINATOR etc.

    Returns False (and does nothing) when no coordinator is given anywhere: a one-process run.
    `local_device_count` sets the number of CPU devices per process (`jax_num_cpu_devices`),
    for tests on one machine.
    """
    coordinator = coordinator or os.environ.get(ENV["coordinator"])
    if not coordinator:
        return False
    if num_processes is None:
        num_processes = _env_int("num_processes")
    if process_id is None:
        process_id = _env_int("process_id")
    if not (isinstance(num_processes, int) and num_processes >= 1):
        raise ValueError(f"num_processes: expected a positive int (--num-processes or "
                         f"${ENV['num_processes']}), got {num_processes!r}")
    if not (isinstance(process_id, int) and 0 <= process_id < num_processes):
        raise ValueError(f"process_id: expected an int in [0, {num_processes}) (--process-id or "
                         f"${ENV['process_id']}), got {process_id!r}")
    if local_device_count is not None:
        jax.config.update("jax_num_cpu_devices", local_device_count)
    bind = coordinator if process_id == 0 else None
    jax.distributed.initialize(coordinator, num_processes, process_id,
                               coordinator_bind_address=bind)
    return True


def initialize_from_args(args: argparse.Namespace, **kwargs) -> bool:
    """`initialize` with the values parsed by `add_distributed_arguments` (then the environment)."""
    return initialize(args.coordinator, args.num_processes, args.process_id, **kwargs)


def _env_int(name: str) -> int | None:
    value = os.environ.get(ENV[name])
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"${ENV[name]}: expected an int, got {value!r}") from None
