"""Independent jobs in parallel: local processes, or a Ray cluster, through one joblib call.

The seed x stage grid of ``python -m cstr reproduce`` (and the per-seed
training of ``train-cost-models`` and ``select-offset-free``) is a list of
jobs that do not talk to each other: each reads its inputs from the data
folder, seeds everything random from its own arguments, writes its weights
and returns a small report. :func:`run_jobs` runs such a list with
``joblib.Parallel`` and returns the reports **in the order of the
jobs**, whatever the number of workers, so a result never depends on which
worker finished first.

Backends (``--backend``):

* ``"loky"`` (default): joblib's process pool on this machine's cores;
  ``workers=1`` runs the jobs one after another in this process.
* ``"ray"``: joblib's Ray backend (``ray.util.joblib``) on the Ray
  cluster at ``address`` (``ray start --head`` on the head node, then
  ``--address HEAD:6379``), or on a fresh local Ray instance of ``workers``
  CPUs when no address is given. The jobs write into the data folder, so on
  a cluster of several machines it must be a path every node sees (a shared
  file system). Install with ``pip install -e '.[ray]'``.

Each job is a module-level function of one argument (a tuple), so that
another process, or another machine, can import it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import joblib

BACKENDS = ("loky", "ray")
"""The joblib backends :func:`run_jobs` accepts."""


def check_backend(backend: str, workers: int) -> None:
    """Refuse an unknown backend or fewer than one worker, saying what to pass instead."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if int(workers) < 1:
        raise ValueError(f"workers must be at least 1 (got {workers}); pass --workers 1 to run the jobs in turn")


@contextlib.contextmanager
def _ray_backend(address: str | None, workers: int):
    try:
        import ray
        from ray.util.joblib import register_ray
    except ImportError as error:
        raise RuntimeError(
            "the ray backend needs Ray: pip install -e '.[ray]' (or drop --backend ray to use local processes)"
        ) from error
    register_ray()
    started_here = not ray.is_initialized()
    if started_here:
        if address is None:
            ray.init(num_cpus=int(workers), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        with joblib.parallel_config(backend="ray"):
            yield
    finally:
        if started_here:
            ray.shutdown()


def run_jobs(
    function: Callable,
    jobs: Iterable,
    workers: int = 2,
    backend: str = "loky",
    address: str | None = None,
    report: Callable | None = None,
) -> list:
    """``[function(job) for job in jobs]``, computed by ``workers`` processes of ``backend``, in job order.

    ``report(result)``, if given, is called on each result as it arrives (in job order), for progress lines.
    ``address`` is the Ray cluster's (``backend="ray"`` only).
    """
    check_backend(backend, workers)
    if address is not None and backend != "ray":
        raise ValueError("--address names a Ray cluster; pass it with --backend ray")
    jobs = list(jobs)
    if not jobs:
        return []
    workers = max(1, min(int(workers), len(jobs)))
    context = _ray_backend(address, workers) if backend == "ray" else contextlib.nullcontext()
    results = []
    with context:
        # the Ray backend is chosen by the parallel_config above and returns its results only all at once;
        # loky hands each back as it is ready, in order, for the progress lines
        named = {"backend": "loky", "return_as": "generator"} if backend == "loky" else {}
        parallel = joblib.Parallel(n_jobs=workers, **named)
        for result in parallel(joblib.delayed(function)(job) for job in jobs):
            if report is not None:
                report(result)
            results.append(result)
    return results


def add_parallel_arguments(parser, workers: int = 2) -> None:
    """``--workers``, ``--backend`` and ``--address`` on a command that runs jobs through :func:`run_jobs`."""
    parser.add_argument("--workers", type=int, default=workers, help=f"jobs in parallel (default {workers})")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="loky",
        help="loky: processes on this machine (default); ray: a Ray cluster through joblib's Ray backend",
    )
    parser.add_argument(
        "--address", default=None, help="the Ray cluster's address (HEAD:6379) with --backend ray; default: a local one"
    )
