"""Jobs in parallel: results in job order whatever the workers, and clear errors for bad settings."""

import importlib.util

import pytest

from cstr.experiments.parallel import run_jobs
from cstr.experiments.reproduce import evaluation_job
from cstr.plant.scenarios import SCENARIO_NAMES
from cstr.storage import data_root


def _square(x):
    return x * x


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_results_come_back_in_job_order(workers):
    seen = []
    assert run_jobs(_square, range(7), workers=workers, report=seen.append) == [x * x for x in range(7)]
    assert seen == [x * x for x in range(7)]


def test_no_jobs_no_pool():
    assert run_jobs(_square, [], workers=3) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "dask"}, "unknown backend 'dask'"),
        ({"workers": 0}, "workers must be at least 1"),
        ({"address": "head:6379"}, "pass it with --backend ray"),
    ],
)
def test_bad_settings_are_refused_with_what_to_pass(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_jobs(_square, [1, 2], **kwargs)


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is an extra: pip install -e '.[ray]'")
def test_a_local_ray_instance_gives_the_records_of_one_local_process():
    """Reproduce's evaluation jobs (the shipped PI controllers, one episode per scenario) on a local Ray instance
    of two workers: the same records as in this process."""
    jobs = [("pi", None, scenario, 1, data_root(), False) for scenario in SCENARIO_NAMES]
    on_ray = run_jobs(evaluation_job, jobs, workers=2, backend="ray")
    here = run_jobs(evaluation_job, jobs, workers=1)
    assert [result["record"] for result in on_ray] == [result["record"] for result in here]
    assert [result["scenario"] for result in on_ray] == list(SCENARIO_NAMES)
