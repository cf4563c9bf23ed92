"""Figures of chapter 7: the headline reward boxes and the trajectories of the first evaluation episode."""

from __future__ import annotations

import numpy as np

from cstr.experiments.results import Results, evaluations
from cstr.figures.agents import plot_evaluation_boxes, plot_policy_trajectories


def plot_reward_boxes(results: Results, seed="chosen"):
    """The headline figure: total reward per controller, one panel per scenario, every episode a dot.

    When every total reward is negative (a cost), draws minus the reward on a
    logarithmic axis, lower is better, so that controllers whose costs differ
    by orders of magnitude share one figure; otherwise a symmetric-log axis.
    """
    evals = evaluations(results, seed)
    all_rewards = np.concatenate([e.metric("total_reward") for e in evals.values()])
    negative = bool(np.all(all_rewards[np.isfinite(all_rewards)] < 0))
    ylabel = "minus total reward (log scale, lower is better)" if negative else "total reward (symlog)"
    return plot_evaluation_boxes(evals, "total_reward", ylabel=ylabel, symlog=not negative, log_cost=negative)


def plot_trajectories(results: Results, names=None, scenarios=None):
    """Polymer, temperature (with the limit) and both inputs of the first evaluation episode, every
    controller in ``names`` (default: all) on the same initial state, one column per scenario."""
    names = results.controllers if names is None else list(names)
    return plot_policy_trajectories(evaluations(results), names, scenarios or results.scenarios)
