"""cstr: the polymerisation-reactor benchmark of the companion book to Durkin et al. (2025).

``import cstr`` registers the Gymnasium environment ``cstr/PolymerCSTR-v0``.
"""

import gymnasium

from cstr.scenarios import HORIZON

ENV_ID = "cstr/PolymerCSTR-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(
        id=ENV_ID,
        entry_point="cstr.envs.polymer_cstr:PolymerCSTREnv",
        vector_entry_point="cstr.envs.vector:PolymerCSTRVectorEnv",
        max_episode_steps=HORIZON,
        kwargs={"scenario": "startup"},
    )

__version__ = "0.1.0"

# Modules whose import registers shipped controllers with cstr.controllers.
_CONTROLLER_MODULES = ("cstr.controllers", "cstr.training", "cstr.cost_model", "cstr.nmpc")


def load_controller(name: str, root=None):
    """A shipped controller by name: ``pi``, ``pi-tuned``, ``bc``, ``iql``, ``bc+``, ``iql+``, ``nmpc``.

    Every controller has ``act(obs) -> action`` for one observation ``[6]`` or
    a batch ``[n, 6]``. ``root`` is the data folder (default: the shipped one).
    """
    import importlib

    for module in _CONTROLLER_MODULES:
        importlib.import_module(module)
    from cstr.controllers import load_controller as _load

    return _load(name, root=root)


def load_cost_model(root=None):
    """The shipped PICNN cost model: ``cost(observations[n, 6], actions[n, 2]) -> [n]``, convex in the actions."""
    from cstr.cost_model import load_cost_model as _load

    return _load(root)


__all__ = ["ENV_ID", "__version__", "load_controller", "load_cost_model"]
