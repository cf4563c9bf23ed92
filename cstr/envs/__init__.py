"""Gymnasium environments of the polymerisation reactor."""

from cstr.envs.polymer_cstr import PolymerCSTREnv
from cstr.envs.vector import PolymerCSTRVectorEnv

__all__ = ["PolymerCSTREnv", "PolymerCSTRVectorEnv"]
