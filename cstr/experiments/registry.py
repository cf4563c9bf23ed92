"""The shipped controllers by name: one table, one order.

:data:`CONTROLLER_NAMES` is the canonical order every table, figure and
colour follows. :data:`LOADERS` maps each name to a function
``loader(root) -> controller``; :func:`load_controller` is the only way in.
Every controller has ``act(obs) -> action`` for one observation ``[6]`` or a
batch ``[n, 6]`` and ``reset()`` at the start of an episode.

=====================  ==========================================================
name                   what it is
=====================  ==========================================================
``pi``                 the dataset's behaviour policy: each episode's tuning drawn
                       from its seed, like the dataset's
``pi-tuned``           the best single PI tuning (``data/pi_tuned.json``)
``steady-inputs``      the recipe: the target grade's steady inputs, open loop
``random``             inputs uniform in the box, seeded by the episode
``bc``, ``iql``        the canonical behaviour-cloning and IQL policies
``bc+``, ``iql+``      the same policies with the convex action correction
``nmpc``               nonlinear MPC with the true model and the full state (oracle)
``nmpc-offset-free``   the same with a disturbance estimate (oracle)
``bc+full-state``,     ablation: the correction with the cost model trained on the
``iql+full-state``     logged full state (never shipped as ``bc+``/``iql+``)
``bc+offset-free``,    the correction with an offset-free cost model and a bias
``iql+offset-free``    estimated from measurements (deployable; chapter 8)
``bc+with-stress``,    the correction with a cost model trained on the stress
``iql+with-stress``    scenario's dataset too (deployable; chapter 8's control)
``bc+redrawn``,        the correction with the deployed recipe's cost model drawn
``iql+redrawn``        again: same data, another draw (the control's control)
``bc+guarded``,        the shipped ``bc+``/``iql+`` behind the convex temperature
``iql+guarded``        guard (deployable; this book's safety filter, chapter 8)
``bc-increments``,     BC and IQL trained on input increments (the prototype's
``iql-increments``     parameterisation; chapter 7 tests whether it removes the offsets)
``narx-search``        diagnostic: the NARX model's own cost minimised by grid
                       search (no PICNN, no policy; chapter 8's control)
``narx-search-o...``   ``narx-search-offset-free``: the same with the bias estimate
=====================  ==========================================================

Chapter 7's tables follow :data:`CONTROLLER_NAMES`; the ablations
(:data:`ABLATION_NAMES`) are evaluated beside them and shown where the
question is what information buys (chapters 5, 6 and the information table,
:mod:`cstr.experiments.information`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cstr.agents.policy import load_policy_controller
from cstr.control.baselines import RandomInputs, SteadyInputs
from cstr.control.nmpc import DISTURBANCE_GAIN, NMPC
from cstr.control.pi import PIController, RandomisedPI
from cstr.control.pi_tuning import load_tuned
from cstr.safety.shipped import (
    COST_MODEL_NAME,
    FULL_STATE_COST_MODEL_NAME,
    OFFSET_FREE_COST_MODEL_NAME,
    REDRAWN_COST_MODEL_NAME,
    STRESS_HISTORY_COST_MODEL_NAME,
    load_corrected_controller,
    load_model_cost_minimiser,
    redrawn_cost_model_name,
)
from cstr.safety.temperature_guard import load_guarded_controller

PI_NAMES = ("pi", "pi-tuned")
BASELINE_NAMES = ("steady-inputs", "random")
"""Fixed controllers that are neither PI nor learned: what closed-loop learning must beat."""
FIXED_NAMES = PI_NAMES + BASELINE_NAMES
"""The deployable controllers without training seeds (evaluated once, under the key ``"all"``)."""
LEARNED_NAMES = ("bc", "iql", "bc+", "iql+")
"""The controllers trained (or corrected) per training seed."""
ORACLE_NAMES = ("nmpc", "nmpc-offset-free")
"""Controllers that read the simulator's full state and model: oracles, not deployable."""
CONTROLLER_NAMES = PI_NAMES + BASELINE_NAMES + LEARNED_NAMES + ORACLE_NAMES
"""Every shipped controller but the ablations, in the order of every table and figure."""
ABLATION_NAMES = ("bc+full-state", "iql+full-state")
"""The corrected controllers whose cost model read the full state: trained per training seed, never deployable."""
OFFSET_FREE_NAMES = ("bc+offset-free", "iql+offset-free")
"""The corrected controllers with integral action (:mod:`cstr.safety.offset_free`): deployable, beyond the paper."""
STRESS_HISTORY_NAMES = ("bc+with-stress", "iql+with-stress")
"""The corrected controllers whose cost model was trained on the stress scenario's dataset too: deployable,
trained per training seed by ``python -m cstr stress-history`` (chapter 8's control), not by ``reproduce``."""
REDRAWN_NAMES = ("bc+redrawn", "iql+redrawn")
"""The corrected controllers whose cost model is the deployed recipe drawn again on the paper's data (same
policies, another random draw): what retraining alone changes, the stress-history study's control."""
STUDY_NAMES = STRESS_HISTORY_NAMES + REDRAWN_NAMES
"""The controllers with one set of weights per training seed that ``stress-history`` trains, not ``reproduce``."""
GUARDED_NAMES = ("bc+guarded", "iql+guarded")
"""The shipped ``bc+``/``iql+`` behind the convex temperature guard (:mod:`cstr.safety.temperature_guard`): a
deployable safety filter added by this book, not part of the paper's method."""

INCREMENT_NAMES = ("bc-increments", "iql-increments")
"""BC and IQL trained to output input increments (:mod:`cstr.agents.increments`, the prototype's
parameterisation): the control for the offsets claim, deployable, trained per training seed."""
DIAGNOSTIC_NAMES = ("narx-search", "narx-search-offset-free")
"""Controls that separate a cost model's distillation from the model it was distilled from (chapter 8)."""
COMPARED_NAMES = PI_NAMES + LEARNED_NAMES
"""The compared controllers (offline RL with and without the correction, and the PI controllers; ``pi-tuned``
is this book's addition): the ones chapter 7's claims are about."""
TRAINED_NAMES = LEARNED_NAMES + ABLATION_NAMES + OFFSET_FREE_NAMES + INCREMENT_NAMES
"""Every controller with one set of weights per training seed."""
VARIANT_COST_MODELS = {
    "": COST_MODEL_NAME,
    "full-state": FULL_STATE_COST_MODEL_NAME,
    "offset-free": OFFSET_FREE_COST_MODEL_NAME,
    "with-stress": STRESS_HISTORY_COST_MODEL_NAME,
    "redrawn": REDRAWN_COST_MODEL_NAME,
}
"""The cost model behind each corrected variant ``<policy>+<variant>``."""
FURTHER_REDRAW = re.compile(r"(bc|iql)\+redrawn-(\d+)")
"""A further redraw's controller, ``<policy>+redrawn-<k>`` (k at least 2): the deployed recipe drawn again for a
training seed the acceptance screen refused (:func:`cstr.experiments.stress_history.redraw_refused`)."""


def _further_redraw(name: str) -> int | None:
    """``k`` of a further redraw's controller ``name``, else ``None``."""
    match = FURTHER_REDRAW.fullmatch(name)
    return int(match.group(2)) if match is not None and int(match.group(2)) >= 2 else None


LOADERS: dict[str, Callable[..., object]] = {
    "pi": lambda root: RandomisedPI(),
    "pi-tuned": lambda root: PIController(load_tuned(root)),
    "steady-inputs": lambda root: SteadyInputs(),
    "random": lambda root: RandomInputs(),
    "bc": lambda root: load_policy_controller("bc", root),
    "iql": lambda root: load_policy_controller("iql", root),
    "bc+": lambda root: load_corrected_controller("bc", root),
    "iql+": lambda root: load_corrected_controller("iql", root),
    "nmpc": lambda root: NMPC(),
    "nmpc-offset-free": lambda root: NMPC(disturbance_gain=DISTURBANCE_GAIN),
    "bc+full-state": lambda root: load_corrected_controller("bc", root, cost_model=FULL_STATE_COST_MODEL_NAME),
    "iql+full-state": lambda root: load_corrected_controller("iql", root, cost_model=FULL_STATE_COST_MODEL_NAME),
    "bc+offset-free": lambda root: load_corrected_controller("bc", root, cost_model=OFFSET_FREE_COST_MODEL_NAME),
    "iql+offset-free": lambda root: load_corrected_controller("iql", root, cost_model=OFFSET_FREE_COST_MODEL_NAME),
    "bc+with-stress": lambda root: load_corrected_controller("bc", root, cost_model=STRESS_HISTORY_COST_MODEL_NAME),
    "iql+with-stress": lambda root: load_corrected_controller("iql", root, cost_model=STRESS_HISTORY_COST_MODEL_NAME),
    "bc+redrawn": lambda root: load_corrected_controller("bc", root, cost_model=REDRAWN_COST_MODEL_NAME),
    "iql+redrawn": lambda root: load_corrected_controller("iql", root, cost_model=REDRAWN_COST_MODEL_NAME),
    "bc+guarded": lambda root: load_guarded_controller(load_corrected_controller("bc", root), root, "bc+guarded"),
    "iql+guarded": lambda root: load_guarded_controller(load_corrected_controller("iql", root), root, "iql+guarded"),
    "bc-increments": lambda root: load_policy_controller("bc-increments", root),
    "iql-increments": lambda root: load_policy_controller("iql-increments", root),
    "narx-search": lambda root: load_model_cost_minimiser(root, offset_free=False),
    "narx-search-offset-free": lambda root: load_model_cost_minimiser(root, offset_free=True),
}
"""Name -> ``loader(root)``, the one table of shipped controllers."""


def load_controller(name: str, root=None):
    """A fresh controller by name (``root``: the data folder holding shipped parameters)."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown controller {name!r}; available: {', '.join(LOADERS)}") from None
    return loader(root)


def training_seed_controller(name: str, seed: int, root=None):
    """A trained controller (:data:`TRAINED_NAMES`, a study's: :data:`STUDY_NAMES`, or a further redraw's:
    :data:`FURTHER_REDRAW`) with the weights of one training seed."""
    further = _further_redraw(name)
    if name in GUARDED_NAMES:
        shipped = name.removesuffix("guarded")
        return load_guarded_controller(training_seed_controller(shipped, seed, root), root, name)
    if name not in TRAINED_NAMES + STUDY_NAMES and further is None:
        raise ValueError(
            f"{name!r} has no training seeds; trained controllers: "
            f"{', '.join(TRAINED_NAMES + STUDY_NAMES + GUARDED_NAMES)} and the further redraws <policy>+redrawn-<k>"
        )
    base, plus, variant = name.partition("+")
    if not plus:
        return load_policy_controller(f"{base}-seed{seed}", root)
    cost_model = VARIANT_COST_MODELS[variant] if further is None else redrawn_cost_model_name(further)
    return load_corrected_controller(base, root, seed=seed, cost_model=cost_model)
