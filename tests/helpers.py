"""Pieces several test modules share (importable because pytest puts tests/ on sys.path)."""

import numpy as np

NOTEBOOK_HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""
"""The jupytext MyST header every chapter starts with."""


class HoldInputs:
    """Holds fixed inputs whatever it observes: a controller that cannot fail to be understood."""

    def __init__(self, inputs):
        self.inputs = np.asarray(inputs, dtype=float)

    def act(self, obs):
        obs = np.asarray(obs)
        return np.tile(self.inputs, (obs.shape[0], 1)) if obs.ndim == 2 else self.inputs.copy()
