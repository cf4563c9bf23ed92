"""Gymnasium environments of the polymerisation reactor, registered as ``cstr/PolymerCSTR-v0`` on import."""

import gymnasium

from cstr.envs.polymer_cstr import PolymerCSTREnv
from cstr.envs.vector import PolymerCSTRVectorEnv
from cstr.plant.scenarios import HORIZON

ENV_ID = "cstr/PolymerCSTR-v0"
"""The id ``gymnasium.make`` and ``gymnasium.make_vec`` know the environment by."""

if ENV_ID not in gymnasium.registry:
    gymnasium.register(
        id=ENV_ID,
        entry_point="cstr.envs.polymer_cstr:PolymerCSTREnv",
        vector_entry_point="cstr.envs.vector:PolymerCSTRVectorEnv",
        max_episode_steps=HORIZON,
        kwargs={"scenario": "startup"},
    )

__all__ = ["ENV_ID", "PolymerCSTREnv", "PolymerCSTRVectorEnv"]
