"""The deployed policies: the controller interface around a network, and the shipped BC and IQL."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cstr.agents import bc, iql
from cstr.agents.increments import IncrementPolicy
from cstr.agents.weights import load_sidecar, load_verified, weight_files
from cstr.envs import core
from cstr.storage import data_root


class PolicyController:
    """The common controller interface around a torch policy: ``act(obs) -> action``."""

    def __init__(self, policy: nn.Module, name: str = "policy"):
        self.policy = policy.eval()
        self.name = name

    def reset(self, rows=None) -> None:
        """Stateless: nothing to forget between episodes."""

    @torch.no_grad()
    def act(self, obs) -> np.ndarray:
        batch, single = core.observation_batch(obs)
        if not np.all(np.isfinite(batch)):
            raise ValueError("observation contains NaN or infinite entries")
        actions = self.policy(torch.from_numpy(batch.astype(np.float32))).numpy().astype(np.float64)
        return actions[0] if single else actions


def load_agent(name: str, root=None):
    """The shipped network of ``name`` ("bc" -> the BC policy, "iql" -> the whole IQL agent), verified."""
    state, sidecar = load_verified(name, root)
    algorithm = "bc" if name.startswith("bc") else "iql"
    module = bc.build_policy(sidecar["config"]) if algorithm == "bc" else iql.build_agent(sidecar["config"])
    module.load_state_dict(state)
    return module.eval()


def load_history(name: str, root=None) -> dict:
    root = data_root(root)
    return load_sidecar(root / weight_files(name)[0])["history"]


def load_policy_controller(name: str, root=None) -> PolicyController:
    """The shipped policy ``name`` as a controller (an increments policy adds its output to the previous inputs)."""
    module = load_agent(name, root)
    policy = module if name.startswith("bc") else module.policy
    sidecar = load_sidecar(data_root(root) / weight_files(name)[0])
    if sidecar["config"].get("action_parameterisation", "absolute") == "increments":
        policy = IncrementPolicy(policy)
    return PolicyController(policy, name=name)
