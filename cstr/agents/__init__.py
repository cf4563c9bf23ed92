"""Offline-RL agents: behaviour cloning (:mod:`cstr.agents.bc`) and implicit Q-learning (:mod:`cstr.agents.iql`)."""
