"""The Ray backend of :func:`srwidgets.batch.di_table`: one Ray task per (model, image) or per ``windows_per_task``.

Each task runs :func:`srwidgets.batch.task.rows`, the function the local backend runs, on the same inputs, so the
rows are the same numbers for every method. The member's class travels with the task (Ray pickles it), so a method
registered only in the driver (a notebook's own member) runs on the workers too. Ray is imported only here.
"""
from __future__ import annotations

import os
import socket
from typing import Optional

import torch

from ..engine import check_int
from ..errors import InputError
from ..progress import check_cancel
from .inputs import task_inputs
from .task import rows

_CONNECT_TIMEOUT = 5.0  # seconds to wait for a Ray cluster address to answer


def _ray_task(model, lr, hr, windows, settings, meta, cls=None, knobs=None):
    """One Ray task: :func:`srwidgets.batch.task.rows` on the worker's device (a GPU when Ray gave it one)."""
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    return rows(model, lr, hr, windows, settings, meta, cls=cls, knobs=knobs)


def _ray_connect(address: Optional[str], workers: int):
    """``(ray, started)``: Ray initialised on a new local instance (``started``) or on the cluster at ``address``."""
    try:
        import ray
    except ImportError:
        raise InputError("backend='ray' needs Ray: pip install \"srwidgets[ray]\" (or pip install ray)") from None
    if ray.is_initialized():
        return ray, False
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    if address is None:
        workers = check_int("workers", workers, 1)
        ray.init(num_cpus=workers, **quiet)
        return ray, True
    if not isinstance(address, str) or not address:
        raise InputError(f"address must be 'auto', 'host:port' or 'ray://host:port', got {address!r}")
    if address != "auto":
        client = address.startswith("ray://")
        hostport = address[len("ray://"):] if client else address
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
        port = port or ("10001" if client else "6379")
        try:
            with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT):
                pass
        except (OSError, ValueError) as e:
            raise InputError(f"no Ray cluster answers at {address!r} ({e}; waited at most {_CONNECT_TIMEOUT:g} s); "
                             "start one with `ray start --head`, or check the address (ray://host:10001 for Ray "
                             "Client, host:6379 for the head node). Nothing was computed") from None
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as e:
        raise InputError(f"could not join the Ray cluster at {address!r}: {e}. Nothing was computed") from None
    return ray, False


def run_calls(fn, calls, address: Optional[str], workers: int, finished, cancel=None) -> None:
    """Run ``fn(*args)`` as one Ray task for every ``args`` of ``calls`` and hand each result to ``finished`` as
    its task ends (any order). Every ``nn.Module`` among the arguments is put in the object store once, however
    many calls share it; a task gets a GPU when the cluster has one. A cancel or an error cancels the tasks still
    pending; a Ray instance started here (``address=None``: a local one with ``workers`` CPUs) is shut down after.
    The one remote loop of the dataset runners (:func:`srwidgets.batch.di_table`, :func:`srwidgets.trust.table`)."""
    from torch import nn

    ray, started = _ray_connect(address, workers)
    try:
        remote = ray.remote(fn)
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        stored = {}

        def put(arg):
            if isinstance(arg, nn.Module):
                if id(arg) not in stored:
                    stored[id(arg)] = ray.put(arg)
                return stored[id(arg)]
            return arg

        pending = {remote.options(num_cpus=1, num_gpus=gpus).remote(*map(put, args)): i for i, args in enumerate(calls)}
        try:
            while pending:
                check_cancel(cancel)
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                for ref in ready:
                    del pending[ref]
                    try:
                        finished(ray.get(ref))
                    except ray.exceptions.RayTaskError as e:
                        raise e.as_instanceof_cause() from None
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started:
            ray.shutdown()


def run_tasks(tasks, named, scales, settings, crop_to, address, workers, finished, cancel, cls=None,
              knobs=None) -> None:
    """di_table's tasks on Ray (:func:`run_calls`): each runs :func:`srwidgets.batch.task.rows`, as locally."""
    calls = []
    for name, img, wins in tasks:
        lr, hr = task_inputs(img, scales[name], settings["downsample"], crop_to)
        meta = dict(model=name, image=img.index, file=img.file, scale=scales[name])
        calls.append((named[name], lr, hr, wins, settings, meta, cls, knobs))
    run_calls(_ray_task, calls, address, workers, finished, cancel)
