"""What every controller knows, at training time and at deployment: the information table.

A plant historian logs what is measured: polymer and temperature, the
setpoints, the applied inputs, and their history. The datasets log more:
the full physical state (monomer, initiator, radicals), which only a
simulator knows. A controller presented as deployable must be trained and
run on the historian's information alone (the brief's information-honesty
rule); anything else is an oracle or an ablation.

The table is computed, not typed:

* for the learned controllers, from the ``training_inputs`` of each shipped
  model's sidecar (the dataset fields its training read, written by the
  training code, which sees no other field) and from the cost model's window;
  and, in a column of its own, whether a choice among trained candidates
  (canonical seed, cost-model target, correction settings) was made on
  simulated validation episodes (the selection records in ``data/results``);
* for the controllers without trained weights, from what their classes read:
  PI reads the observation and integrates its errors; ``steady-inputs`` reads
  the setpoint and applies a recipe computed on the true model
  (:data:`cstr.control.baselines.RECIPE_INFORMATION`); ``pi-tuned`` was tuned
  on episodes of the simulator (:data:`cstr.control.pi_tuning.TUNING_INFORMATION`);
  NMPC reads the full state and the true model
  (:data:`cstr.control.nmpc.NMPC_INFORMATION`).
"""

from __future__ import annotations

import pandas as pd

from cstr.agents.weights import chosen_training_seed, load_sidecar, seeded_name, selection_file, weight_files
from cstr.control.baselines import RECIPE_INFORMATION
from cstr.control.nmpc import NMPC_INFORMATION
from cstr.control.pi_tuning import TUNING_INFORMATION
from cstr.experiments.offset_free_selection import OFFSET_FREE_SELECTION_FILE
from cstr.experiments.registry import (
    DIAGNOSTIC_NAMES,
    GUARDED_NAMES,
    INCREMENT_NAMES,
    LOADERS,
    VARIANT_COST_MODELS,
)
from cstr.experiments.selection import CORRECTION_SELECTION_FILE
from cstr.safety import narx
from cstr.safety.temperature_guard import GUARD_NAME, GUARD_SETTINGS_FILE
from cstr.storage import data_root

KINDS = ("observations", "observation history", "rewards", "full state", "true model")
"""The kinds of information the table distinguishes."""
PRIVILEGED = ("full state", "true model")
"""What no plant gives a controller: a controller that uses either is an oracle or an ablation."""
FIELD_KINDS = {
    "observations": "observations",
    "next_observations": "observations",
    "actions": "observations",
    "terminations": "observations",
    "truncations": "observations",
    "episode_ids": "observation history",
    "rewards": "rewards",
    "states": "full state",
    "next_states": "full state",
}
"""Which kind of information each dataset field is (``episode_ids`` order the rows into histories)."""
FEEDBACK = ("observations", "observation history")
"""What a PI loop reads: the observation, and through its integrator the history of its errors."""


def kinds_of(fields) -> tuple[str, ...]:
    """The kinds of information a list of dataset fields amounts to, in the order of :data:`KINDS`."""
    unknown = sorted(set(fields) - set(FIELD_KINDS))
    if unknown:
        raise ValueError(f"unknown dataset fields {unknown}; known: {', '.join(FIELD_KINDS)}")
    present = {FIELD_KINDS[field] for field in fields}
    return tuple(kind for kind in KINDS if kind in present)


def _sidecar(root, name: str, seed: int | None) -> dict:
    file = weight_files(name if seed is None else seeded_name(name, seed))[0]
    return load_sidecar(root / file)["config"]


SIMULATED_SELECTION = "simulated validation episodes"
"""What choosing a canonical seed, a cost-model target or correction settings used: closed-loop episodes
on the simulator (validation seeds). A plant would need a simulator or cautious trials for that step."""


def _selection(name: str, root) -> tuple[str, ...]:
    base, plus, variant = name.partition("+")
    files = [selection_file(base)] if base in ("bc", "iql", *INCREMENT_NAMES) else []
    if name in DIAGNOSTIC_NAMES:  # the NARX model behind the canonical IQL's cost: IQL's seed choice
        files.append(selection_file("iql"))
    if plus:
        files.append(CORRECTION_SELECTION_FILE)
    if variant == "offset-free" or name == "narx-search-offset-free":
        files.append(OFFSET_FREE_SELECTION_FILE)
    if variant == "guarded":  # the threshold, chosen on validation episodes
        files.append(GUARD_SETTINGS_FILE)
    return (SIMULATED_SELECTION,) if any((root / file).exists() for file in files) else ()


def controller_information(name: str, root=None) -> dict:
    """``{"training", "deployment", "selection", "deployable"}`` of a shipped controller.

    ``training`` and ``deployment``: the kinds of information (:data:`KINDS`)
    used to fit it and read when it runs; ``selection``: what its choices
    among trained candidates used (:data:`SIMULATED_SELECTION` or nothing);
    ``deployable``: neither training nor deployment uses :data:`PRIVILEGED`
    information.
    """
    root = data_root(root)
    if name == "pi":
        training, deployment = (), FEEDBACK
    elif name == "pi-tuned":
        training, deployment = TUNING_INFORMATION, FEEDBACK
    elif name == "steady-inputs":
        training, deployment = RECIPE_INFORMATION, ("observations",)
    elif name == "random":
        training, deployment = (), ()
    elif name in ("nmpc", "nmpc-offset-free"):
        training, deployment = (), NMPC_INFORMATION + (("observations",) if name == "nmpc-offset-free" else ())
    elif name in DIAGNOSTIC_NAMES:
        training, deployment = kinds_of(narx.TRAINING_INPUTS), ("observations", "observation history")
    elif name in GUARDED_NAMES:  # the corrected controller, and a guard model trained on measurements only
        shipped = controller_information(name.removesuffix("guarded"), root)
        guard = _sidecar(root, GUARD_NAME, None)
        training = tuple(set(shipped["training"]) | set(kinds_of(guard["training_inputs"])))
        deployment = tuple(set(shipped["deployment"]) | {"observations", "observation history"})
    else:
        base, plus, variant = name.partition("+")
        if base not in ("bc", "iql", *INCREMENT_NAMES):
            raise ValueError(f"unknown controller {name!r}")
        seed = chosen_training_seed(base, root)
        fields = set(_sidecar(root, base, seed)["training_inputs"])
        deployment = ("observations",)
        if plus:
            cost = _sidecar(root, VARIANT_COST_MODELS[variant], seed)
            fields |= set(cost["training_inputs"])
            if cost["state_window"] > 1:
                deployment += ("observation history",)
        training = kinds_of(fields)
    used = set(training) | set(deployment)
    return {
        "training": tuple(kind for kind in KINDS if kind in training),
        "deployment": tuple(kind for kind in KINDS if kind in deployment),
        "selection": _selection(name, root),
        "deployable": not (used & set(PRIVILEGED)),
    }


def information_table(names=tuple(LOADERS), root=None) -> pd.DataFrame:
    """One row per controller (default: every registered one, in the registry's order): what it uses at training
    time and at deployment, and whether a plant could run it."""
    rows = {}
    for name in names:
        info = controller_information(name, root)
        rows[name] = {
            "training": ", ".join(info["training"]) or "nothing (no fitted parameters)",
            "deployment": ", ".join(info["deployment"]) or "nothing",
            "chosen on": ", ".join(info["selection"]) or "-",
            "deployable": "yes"
            if info["deployable"]
            else "no: " + ", ".join(kind for kind in PRIVILEGED if kind in info["training"] + info["deployment"]),
        }
    table = pd.DataFrame(rows).T
    table.index.name = "controller"
    return table
