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
__all__ = ["ENV_ID", "__version__"]
