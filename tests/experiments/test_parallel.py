"""Jobs in parallel: results in job order whatever the workers, and clear errors for bad settings."""

import pytest

from cstr.experiments.parallel import run_jobs


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
