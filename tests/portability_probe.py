"""Run in a subprocess by ``test_portability.py`` under another CPU's instruction-set settings.

``python tests/portability_probe.py OUT EPISODES EVAL_EPISODES CONTROLLER...`` writes to OUT:

* ``<scenario>.npz``: the first EPISODES dataset episodes, regenerated;
* ``golden.npz``: the single environment's initial state and 40 steps of
  the golden action schedule, per scenario;
* ``evaluation.json``: per-episode total rewards of each named controller on
  the first EVAL_EPISODES evaluation seeds (all episodes in one batch);
* ``settings.json``: what the process actually ran with (numba's target CPU,
  numpy's enabled SIMD features, torch's CPU capability), so the test can
  check that the settings took effect.
"""

import json
import sys
from pathlib import Path

import numpy as np
from helpers import golden_run

GOLDEN_STEPS = 40


def main(out: Path, episodes: int, eval_episodes: int, controllers: list[str]) -> None:
    import numba
    import torch
    from numpy._core._multiarray_umath import __cpu_features__

    from cstr import load_controller
    from cstr.data.generation import generate_scenario
    from cstr.experiments.evaluation import evaluate
    from cstr.plant.scenarios import SCENARIO_NAMES
    from cstr.seeds import EVALUATION_SEED_START
    from cstr.storage import write_npz

    out.mkdir(parents=True, exist_ok=True)
    golden = {}
    for scenario in SCENARIO_NAMES:
        arrays, metadata = generate_scenario(scenario, episodes=episodes, seed=0)
        arrays["returns"] = np.array([episode["return"] for episode in metadata])
        write_npz(out / f"{scenario}.npz", arrays)
        golden[scenario] = golden_run(scenario, GOLDEN_STEPS)
    write_npz(out / "golden.npz", golden)

    totals = {}
    for name in controllers:
        for scenario in SCENARIO_NAMES:
            evaluation = evaluate(load_controller(name), scenario, eval_episodes, EVALUATION_SEED_START)
            totals[f"{name}/{scenario}"] = [episode["total_reward"] for episode in evaluation.episodes]
    (out / "evaluation.json").write_text(json.dumps(totals), encoding="utf-8")
    from cstr.plant import simulate

    # what numba really compiled the integrator to, whatever the settings asked for
    assembly = "".join(simulate._rodas4_interval.inspect_asm().values())
    settings = {
        "numba_cpu_name": numba.config.CPU_NAME or "host",
        "uses_ymm": "ymm" in assembly,
        "uses_zmm": "zmm" in assembly,
        "uses_fma": "vfmadd" in assembly or "vfnmadd" in assembly,
        "numpy_features": sorted(name for name, on in __cpu_features__.items() if on),
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
    }
    (out / "settings.json").write_text(json.dumps(settings), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
