"""cstr.plant.portable_math: accurate to under one unit in the last place, and special values right.

(That its bits are the same on every CPU is checked in test_portability.py.)
"""

import math

import mpmath
import numba
import numpy as np
import pytest

from cstr.plant import portable_math


def ulps_from_exact(values, exact_function, inputs) -> np.ndarray:
    """|value - exact| in units of the last place of the exact result (mpmath at 120 bits)."""
    errors = []
    with mpmath.workprec(120):
        for value, x in zip(values, inputs):
            exact = exact_function(mpmath.mpf(float(x)))
            errors.append(float(abs(mpmath.mpf(float(value)) - exact) / mpmath.mpf(math.ulp(float(exact)))))
    return np.array(errors)


def test_exp_is_accurate_to_under_one_ulp():
    rng = np.random.default_rng(7)
    # the whole finite range, the Arrhenius exponents of the model (-60 to -5), near zero, and the edges
    x = np.concatenate(
        [
            rng.uniform(-708.0, 709.0, 1500),
            rng.uniform(-60.0, -5.0, 1500),
            rng.uniform(-1.0, 1.0, 500),
            rng.uniform(-1e-7, 1e-7, 100),
            [0.5 * math.log(2.0), 1.5 * math.log(2.0), -0.5 * math.log(2.0), 709.7, -708.3],
        ]
    )
    assert ulps_from_exact(portable_math.exp(x), mpmath.exp, x).max() < 1.0


def test_exp_into_the_subnormal_range():
    x = np.linspace(-744.0, -709.0, 200)
    np.testing.assert_allclose(
        portable_math.exp(x), [float(mpmath.exp(v)) for v in x], rtol=0.0, atol=1e-323
    )  # two subnormal steps


def test_log_is_accurate_to_under_one_ulp():
    rng = np.random.default_rng(8)
    x = np.concatenate(
        [
            np.exp(rng.uniform(-700.0, 700.0, 1500)),
            rng.uniform(0.5, 2.0, 1500),
            [1e-300, 1e300, 2.0, 0.5, math.sqrt(0.5), math.sqrt(2.0), 5e-324],
        ]
    )
    assert ulps_from_exact(portable_math.log(x), mpmath.log, x).max() < 1.0


@pytest.mark.parametrize(
    "x, expected", [(0.0, 1.0), (-0.0, 1.0), (math.inf, math.inf), (-math.inf, 0.0), (710.0, math.inf), (-746.0, 0.0)]
)
def test_exp_special_values(x, expected):
    assert portable_math.exp(x) == expected


@pytest.mark.parametrize("x, expected", [(1.0, 0.0), (0.0, -math.inf), (math.inf, math.inf)])
def test_log_special_values(x, expected):
    assert portable_math.log(x) == expected


def test_nan_and_negative_arguments_give_nan():
    assert math.isnan(portable_math.exp(math.nan))
    assert math.isnan(portable_math.log(math.nan)) and math.isnan(portable_math.log(-1.0))


def test_compiled_scalars_and_ufuncs_are_the_same_function():
    @numba.njit
    def both(values):
        out = np.empty((values.size, 2))
        for i in range(values.size):
            out[i, 0] = portable_math.exp_scalar(values[i])
            out[i, 1] = portable_math.log_scalar(abs(values[i]) + 1e-3)
        return out

    x = np.random.default_rng(9).uniform(-50.0, 50.0, 1000)
    compiled = both(x)
    assert compiled[:, 0].tobytes() == portable_math.exp(x).tobytes()
    assert compiled[:, 1].tobytes() == portable_math.log(np.abs(x) + 1e-3).tobytes()
