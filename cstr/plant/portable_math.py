"""exp and log that give the same bits on every x86-64 CPU.

Why this module exists: the simulator's results must not depend on the
processor they run on. The usual ``exp`` does. numpy sends ``np.exp`` and
``np.log`` on float64 arrays to AVX-512 code where the CPU has it (and to the
C library otherwise), and glibc's ``exp``, which numba's compiled code calls,
picks an FMA-contracted variant on CPUs with FMA. Each is accurate to about
half a unit in the last place, but they round differently in a few percent
of cases, and a 200-step closed loop spreads one such bit through the whole
trajectory: datasets regenerated on another CPU differed from the shipped
ones in the last float32 bits.

The two functions here use only IEEE-754 basic operations (``+ - * /``,
which every CPU rounds identically), exact power-of-two scaling
(``ldexp``/``frexp``) and integer conversion, in a fixed order. numba
compiles them without fast-math, so LLVM may neither reorder them nor fuse a
multiply and an add: the result is the same on every CPU, whatever
instruction set the code is compiled for (``tests/test_portability.py``
checks that by compiling for other targets in a subprocess).

The algorithms are the classic ones of fdlibm (Sun Microsystems, 1993; the
C library of FreeBSD and of Java's ``StrictMath``, which exists for the same
reason): argument reduction by ``ln 2`` in two parts, then a minimax
polynomial in the reduced argument. Both are accurate to less than one unit
in the last place (tested against mpmath). They cost about what the C
library's do.

Use :func:`exp_scalar` / :func:`log_scalar` inside numba-compiled code and
the ufuncs :data:`exp` / :data:`log` on numpy arrays and scalars. Both come
from the same Python source.
"""

from __future__ import annotations

import math

import numba

# exp: |x| <= 0.5 ln2 after reduction; r = x - k ln2 with ln2 = LN2_HI + LN2_LO,
# where LN2_HI has its last 32 bits zero, so k * LN2_HI is exact for |k| < 2^20.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_OVERFLOW = 7.09782712893383973096e02
_EXP_UNDERFLOW = -7.45133219101941108420e02
# Remez coefficients of R(r^2) ~ r (e^r + 1) / (e^r - 1) - 2, |error| < 2^-59
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08

# log: x = 2^k (1 + f) with sqrt(2)/2 < 1 + f < sqrt(2); s = f / (2 + f);
# log(1 + f) = 2s + s R(s^2), R a Remez polynomial, |error| < 2^-58.45
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT_HALF = 0.70710678118654752440


def _exp(x):
    if x != x:
        return x
    if x > _EXP_OVERFLOW:
        return math.inf
    if x < _EXP_UNDERFLOW:
        return 0.0
    if abs(x) < 3.725290298461914e-09:  # 2^-28: e^x = 1 + x to double precision
        return 1.0 + x
    # k = nearest integer to x / ln2 (rounding half away from zero)
    k = int(_INV_LN2 * x + (0.5 if x >= 0.0 else -0.5))
    hi = x - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    if k == 0:
        return 1.0 - ((r * c) / (c - 2.0) - r)
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return math.ldexp(y, k)


def _log(x):
    if x != x:
        return x
    if x < 0.0:
        return math.nan
    if x == 0.0:
        return -math.inf
    if x == math.inf:
        return x
    mantissa, k = math.frexp(x)  # x = mantissa 2^k, 0.5 <= mantissa < 1, both exact
    if mantissa < _SQRT_HALF:
        mantissa *= 2.0
        k -= 1
    f = mantissa - 1.0  # exact (Sterbenz): 1 + f in (sqrt(2)/2, sqrt(2))
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    correction = t2 + t1
    half_f_squared = 0.5 * f * f
    dk = float(k)
    if k == 0:
        return f - (half_f_squared - s * (half_f_squared + correction))
    return dk * _LN2_HI - ((half_f_squared - (s * (half_f_squared + correction) + dk * _LN2_LO)) - f)


exp_scalar = numba.njit("float64(float64)", cache=True, inline="always")(_exp)
"""e^x of one float64, for numba-compiled code."""

log_scalar = numba.njit("float64(float64)", cache=True, inline="always")(_log)
"""Natural logarithm of one float64, for numba-compiled code."""

exp = numba.vectorize(["float64(float64)"], cache=True)(_exp)
"""e^x as a numpy ufunc: the same bits on every CPU (unlike ``np.exp``)."""

log = numba.vectorize(["float64(float64)"], cache=True)(_log)
"""Natural logarithm as a numpy ufunc: the same bits on every CPU (unlike ``np.log``)."""
