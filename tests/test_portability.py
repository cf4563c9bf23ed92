"""Another CPU, simulated: the shipped data and results reproduce under other instruction-set settings.

CI runs on one machine, so nothing there could notice that results depend
on the processor. These tests run the data generator, the single
environment and the evaluation in a subprocess (``portability_probe.py``)
under the settings another x86-64 CPU would give each library that
dispatches on the CPU:

* numba compiles for another target (``NUMBA_CPU_NAME``, fresh cache);
* numpy's SIMD kernels above the baseline are switched off
  (``NPY_DISABLE_CPU_FEATURES``);
* glibc's libm picks its variants for a CPU without FMA/AVX2/AVX-512
  (``GLIBC_TUNABLES``);
* OpenBLAS, torch and MKL pick their kernels for another core
  (``OPENBLAS_CORETYPE``, ``ATEN_CPU_CAPABILITY``, ``MKL_ENABLE_INSTRUCTIONS``).

Claims, each checked under every setting:

1. regenerated dataset episodes are the shipped bytes;
2. the single environment's trajectory is bit-identical to this process's;
3. PI controllers (numpy arithmetic only) reproduce the stored per-episode
   total rewards of ``data/results/evaluation.json`` to the 12 digits they
   are stored with; learned controllers (torch and BLAS, which round
   differently per CPU) reproduce them as
   :func:`cstr.experiments.results.check_reproduction` defines: the median
   episode within 1 %, each scenario's mean within its standard error (a
   corrected closed loop near the edge of stability reproduces its
   distribution of episodes, not each episode). The evaluation runs all
   stored episodes at once, as ``reproduce`` did: the corrected controllers'
   matrix products may round differently for another batch size.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import golden_run

from cstr.data.dataset import load_dataset
from cstr.data.generation import TRANSITION_KEYS
from cstr.experiments.results import check_reproduction, load_results
from cstr.plant.scenarios import ALL_SCENARIO_NAMES, SCENARIO_NAMES

PROBE = Path(__file__).parent / "portability_probe.py"
GOLDEN = Path(__file__).parent / "golden"
EPISODES = 4
EXACT_CONTROLLERS = ("pi", "pi-tuned", "steady-inputs", "random")
LEARNED_CONTROLLERS = ("bc", "iql", "bc+", "iql+")
STORAGE_PRECISION = 1e-11  # results JSON keeps 12 significant digits


HASWELL_FEATURES = ",".join(
    ["+" + f for f in ("64bit", "avx", "avx2", "bmi", "bmi2", "cmov", "cx16", "cx8", "f16c", "fma", "fxsr", "lzcnt")]
    + ["+" + f for f in ("mmx", "movbe", "pclmul", "popcnt", "sahf", "sse", "sse2", "sse3", "sse4.1", "sse4.2")]
    + ["+ssse3", "+xsave"]
    + ["-" + f for f in ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")]
)


def host_cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def numpy_dispatch_targets() -> list[str]:
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return [name for name in __cpu_dispatch__ if __cpu_features__.get(name, False)]


def cpu_settings() -> dict[str, dict[str, str]]:
    """Environment variables that make this process compute as another x86-64 CPU would.

    Only targets this CPU can execute: code compiled for a newer CPU would
    crash here, so an AVX2 setting exists only on an AVX2 machine.
    """
    dispatch = numpy_dispatch_targets()
    settings = {
        "baseline x86-64 (SSE2, no FMA)": {
            "NUMBA_CPU_NAME": "generic",
            "NPY_DISABLE_CPU_FEATURES": " ".join(dispatch),
            "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX,-AVX2,-FMA,-FMA4,-AVX512F,-AVX512DQ,-AVX512VL,-AVX512BW",
            "OPENBLAS_CORETYPE": "Prescott",
            "ATEN_CPU_CAPABILITY": "default",
            "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        },
    }
    if {"avx2", "fma"} <= host_cpu_flags():
        settings["AVX2 and FMA, no AVX-512"] = {
            "NUMBA_CPU_NAME": "haswell",
            # explicit, or numba adds the host's own features (AVX-512 included) to the named CPU
            "NUMBA_CPU_FEATURES": HASWELL_FEATURES,
            "NPY_DISABLE_CPU_FEATURES": " ".join(name for name in dispatch if name not in ("X86_V3", "AVX2")),
            "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX512DQ,-AVX512VL,-AVX512BW,-AVX512CD",
            "OPENBLAS_CORETYPE": "Haswell",
            "ATEN_CPU_CAPABILITY": "avx2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        }
    return settings


SETTINGS = cpu_settings()


@pytest.fixture(scope="module", params=list(SETTINGS))
def probe(request, tmp_path_factory):
    """The probe's output folder and the settings it ran under."""
    setting = SETTINGS[request.param]
    out = tmp_path_factory.mktemp("probe")
    env = dict(os.environ, **setting)
    env["NUMBA_CACHE_DIR"] = str(out / "numba-cache")  # compile afresh for the other target
    env["OMP_NUM_THREADS"] = "1"
    command = [
        sys.executable,
        str(PROBE),
        str(out),
        str(EPISODES),
        str(load_results().episodes),
        *EXACT_CONTROLLERS,
        *LEARNED_CONTROLLERS,
    ]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, f"probe failed under {request.param}:\n{finished.stderr[-3000:]}"
    return out, setting


def test_the_settings_take_effect(probe):
    out, setting = probe
    applied = json.loads((out / "settings.json").read_text())
    assert applied["numba_cpu_name"] == setting["NUMBA_CPU_NAME"]
    # the compiled integrator itself: never a fused multiply-add (no fast-math), and no wider
    # registers than the imitated CPU has
    assert not applied["uses_fma"]
    assert not applied["uses_zmm"]
    if setting["NUMBA_CPU_NAME"] == "generic":
        assert not applied["uses_ymm"]
    disabled = set(setting["NPY_DISABLE_CPU_FEATURES"].split())
    assert not disabled & set(applied["numpy_features"]), "numpy kept SIMD features the setting switched off"
    expected_torch = {"default": "DEFAULT", "avx2": "AVX2"}[setting["ATEN_CPU_CAPABILITY"]]
    assert applied["torch_capability"] == expected_torch


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_regenerated_episodes_are_the_shipped_bytes(probe, scenario):
    out, _ = probe
    shipped = load_dataset(scenario)
    rows = shipped.episode_ids < EPISODES
    with np.load(out / f"{scenario}.npz") as regenerated:
        for key in (*TRANSITION_KEYS, "states", "next_states"):
            mine = regenerated[key]
            theirs = getattr(shipped, key)[rows]
            assert mine.dtype == theirs.dtype and mine.tobytes() == theirs.tobytes(), f"{scenario}: {key} differs"
        stored = [episode["return"] for episode in shipped.episodes[:EPISODES]]
        np.testing.assert_allclose(regenerated["returns"], stored, rtol=STORAGE_PRECISION)


def test_single_environment_is_bit_identical(probe):
    out, _ = probe
    with np.load(out / "golden.npz") as other:
        for scenario in SCENARIO_NAMES:
            with np.load(GOLDEN / f"{scenario}.npz") as golden:
                np.testing.assert_array_equal(other[scenario][0], golden["states"][0])
            here = golden_run(scenario, other[scenario].shape[0] - 1)
            assert here.tobytes() == other[scenario].tobytes(), f"{scenario} trajectory differs"


def test_shipped_results_reproduce(probe):
    out, _ = probe
    totals = json.loads((out / "evaluation.json").read_text())
    results = load_results()
    for name in EXACT_CONTROLLERS + LEARNED_CONTROLLERS:
        for scenario in SCENARIO_NAMES:
            stored = results.metric(name, scenario, "total_reward")
            rerun = np.array(totals[f"{name}/{scenario}"])
            where = f"{name} in {scenario}"
            if name in EXACT_CONTROLLERS:
                np.testing.assert_allclose(rerun, stored, rtol=STORAGE_PRECISION, err_msg=where)
            else:
                check_reproduction(rerun, stored, where)


def test_verify_data_regenerates_the_shipped_bytes_here(capsys):
    from cstr.__main__ import main

    assert main(["verify-data", "--regenerate"]) == 0
    report = capsys.readouterr().out
    files = 2 * len(ALL_SCENARIO_NAMES)  # the stress dataset too
    assert f"{files} of {files} files identical bytes" in report, report
