"""Figures and statistics of chapter 2: PI trajectory bundles, dataset coverage, returns."""

from __future__ import annotations

import numpy as np

from cstr.envs.core import WORST_STEP_REWARD
from cstr.scenarios import CONTROL_INTERVAL, SCENARIO_NAMES, TEMPERATURE_LIMIT, get_scenario

HOURS_PER_STEP = CONTROL_INTERVAL / 3600.0
SCENARIO_TITLES = {"startup": "Startup", "grade_down": "Grade change down", "grade_up": "Grade change up"}
NEAR_LIMIT_MARGIN = 5.0
"""An episode 'comes close to the limit' when its temperature gets within this many kelvin of it."""


def _padded(data, key, column):
    """``[episodes, longest]`` array of one column of ``key``, NaN after an episode ends."""
    lengths = np.bincount(data.episode_ids)
    out = np.full((len(lengths), lengths.max()), np.nan)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    values = getattr(data, key)[:, column] if column is not None else getattr(data, key)
    for e, (start, length) in enumerate(zip(starts, lengths)):
        out[e, :length] = values[start:start + length]
    return out


def plot_bundle(data, axes=None, highlight=None, max_episodes: int | None = None, color="tab:blue"):
    """Four panels for one scenario: polymer, temperature, initiator feed, coolant temperature.

    Every episode is a thin line; setpoints dashed black; the temperature
    limit red. ``highlight``: an optional dict from ``cstr.control.rollout``
    (one episode) drawn bold on top, e.g. ``pi-tuned``.
    """
    import matplotlib.pyplot as plt

    scenario = get_scenario(data.scenario)
    if axes is None:
        _, axes = plt.subplots(4, 1, figsize=(6, 8), sharex=True)
    panels = [
        ("next_states", 3, "polymer P [kg/m3]", scenario.target.polymer),
        ("next_states", 4, "temperature T [K]", scenario.target.temperature),
        ("actions", 0, "initiator feed u_I [kg/h]", None),
        ("actions", 1, "coolant T_c [K]", None),
    ]
    count = data.episode_count if max_episodes is None else min(max_episodes, data.episode_count)
    for ax, (key, column, label, setpoint) in zip(axes, panels):
        values = _padded(data, key, column)[:count]
        time = (np.arange(values.shape[1]) + (1 if key == "next_states" else 0)) * HOURS_PER_STEP
        ax.plot(time, values.T, color=color, lw=0.5, alpha=0.35)
        if highlight is not None:
            series = highlight["next_states" if key == "next_states" else "actions"][0, :, column]
            ax.plot(time[:len(series)], series, color="tab:orange", lw=1.8, label="pi-tuned")
        if setpoint is not None:
            ax.axhline(setpoint, color="k", ls="--", lw=1.2, label="setpoint")
        if column == 4 and key == "next_states":
            ax.axhline(TEMPERATURE_LIMIT, color="tab:red", lw=1.5, label="temperature limit")
        ax.set_ylabel(label, fontsize=8)
    axes[0].set_title(SCENARIO_TITLES.get(data.scenario, data.scenario), fontsize=10)
    axes[1].legend(fontsize=7, loc="lower right")
    axes[-1].set_xlabel("time [h]")
    return axes


def plot_bundles(datasets, highlights=None):
    """One column of :func:`plot_bundle` per dataset."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, len(datasets), figsize=(4.2 * len(datasets), 8), sharex=True)
    axes = np.asarray(axes).reshape(4, len(datasets))
    for column, data in enumerate(datasets):
        plot_bundle(data, axes[:, column], highlight=None if highlights is None else highlights[column])
    fig.tight_layout()
    return fig


def plot_coverage(datasets):
    """State-action coverage: polymer against initiator feed, temperature against coolant temperature."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for data in datasets:
        axes[0].scatter(data.actions[:, 0], data.next_states[:, 3], s=1, alpha=0.15, label=data.scenario)
        axes[1].scatter(data.actions[:, 1], data.next_states[:, 4], s=1, alpha=0.15, label=data.scenario)
    axes[0].set_xlabel("initiator feed u_I [kg/h]")
    axes[0].set_ylabel("polymer P after the step [kg/m3]")
    axes[1].set_xlabel("coolant temperature T_c [K]")
    axes[1].set_ylabel("temperature T after the step [K]")
    axes[1].axhline(TEMPERATURE_LIMIT, color="tab:red", lw=1.2, label="temperature limit")
    for ax in axes:
        legend = ax.legend(fontsize=8, markerscale=8)
        for handle in legend.legend_handles:
            handle.set_alpha(1.0)
    fig.tight_layout()
    return fig


def plot_returns(datasets, references=None):
    """Histograms of episode returns per scenario; ``references``: ``{scenario: {name: mean return}}``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.2))
    axes = np.atleast_1d(axes)
    for ax, data in zip(axes, datasets):
        returns = data.episode_returns()
        ax.hist(returns, bins=25, color="tab:blue", alpha=0.7, label="dataset episodes")
        for (name, value), color in zip((references or {}).get(data.scenario, {}).items(),
                                        ("tab:orange", "tab:green", "tab:purple")):
            ax.axvline(value, color=color, lw=2, label=name)
        ax.set_title(SCENARIO_TITLES.get(data.scenario, data.scenario), fontsize=10)
        ax.set_xlabel("episode return")
    axes[0].set_ylabel("episodes")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def dataset_summary(data) -> dict:
    """Numbers the chapter quotes about one scenario's dataset."""
    returns = data.episode_returns()
    max_temperature = np.array([data.next_states[data.episode_ids == e, 4].max() for e in range(data.episode_count)])
    reasons = [episode["termination_reason"] for episode in data.episodes]
    return {
        "episodes": data.episode_count,
        "transitions": len(data),
        "mean_return": float(returns.mean()),
        "median_return": float(np.median(returns)),
        "best_return": float(returns.max()),
        "worst_return": float(returns.min()),
        "terminated": int(sum(reason != "horizon" for reason in reasons)),
        "near_limit": int(np.sum(max_temperature >= TEMPERATURE_LIMIT - NEAR_LIMIT_MARGIN)),
        "max_temperature": float(max_temperature.max()),
        "closest_margin": float(TEMPERATURE_LIMIT - max_temperature.max()),
        "feed_range": (float(data.actions[:, 0].min()), float(data.actions[:, 0].max())),
        "coolant_range": (float(data.actions[:, 1].min()), float(data.actions[:, 1].max())),
        "worst_step_reward": WORST_STEP_REWARD,
    }


def percentile_of(value: float, data) -> float:
    """Share of the dataset's episodes (percent) whose return is below ``value``."""
    return float(100.0 * np.mean(data.episode_returns() < value))


# --------------------------------------------------------------------------
# Chapters 3 and 4: training curves, evaluation tables, learned-policy trajectories, offsets.

CONTROLLER_COLORS = {"pi": "tab:blue", "pi-tuned": "tab:orange", "bc": "tab:green", "iql": "tab:purple",
                     "bc+": "tab:olive", "iql+": "tab:pink"}
"""The colour of each shipped controller in the figures of chapters 3 and 4."""
TABLE_METRICS = ("total_reward", "steady_state_offset", "steady_state_offset_polymer",
                 "steady_state_offset_temperature", "max_temperature")


def _color(name: str, index: int = 0) -> str:
    return CONTROLLER_COLORS.get(name, f"C{index % 10}")


def plot_training_curves(histories, keys=None, labels=None, axes=None, logy=(), title=None):
    """One panel per logged quantity of one or more training histories.

    ``histories``: a history dict (``{"step": [...], key: [...], ...}``, as
    :func:`cstr.training.load_history` returns and ``train`` records) or a
    list of them, drawn on the same panels with ``labels``. ``keys``: the
    quantities to draw (default: every key but ``step`` of the first
    history). ``logy``: keys drawn on a logarithmic axis. Returns the figure.
    """
    import matplotlib.pyplot as plt

    histories = [histories] if isinstance(histories, dict) else list(histories)
    keys = list(keys or [key for key in histories[0] if key != "step"])
    labels = list(labels) if labels is not None else [None] * len(histories)
    if axes is None:
        fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.0), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    for ax, key in zip(axes, keys):
        for index, (history, label) in enumerate(zip(histories, labels)):
            if key in history:
                ax.plot(history["step"], history[key], color=f"C{index}", lw=1.5, label=label)
        if key in logy:
            ax.set_yscale("log")
        ax.set_title(key.replace("_", " "), fontsize=10)
        ax.set_xlabel("gradient update")
    if any(label is not None for label in labels):
        axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def evaluate_controllers(controllers: dict, scenarios=None, episodes: int = 10, seed: int | None = None) -> dict:
    """``{(name, scenario): Evaluation}`` for every controller in every scenario, same seeds for all.

    ``controllers``: ``{name: controller}``. Seeds start at ``seed`` (default:
    the first evaluation seed) in every scenario, so every controller meets
    the same initial states.
    """
    from cstr.data import EVALUATION_SEED_START
    from cstr.evaluation import evaluate
    from cstr.scenarios import SCENARIO_NAMES

    scenarios = SCENARIO_NAMES if scenarios is None else tuple(scenarios)
    seed = EVALUATION_SEED_START if seed is None else int(seed)
    return {(name, scenario): evaluate(controller, scenario, episodes, seed=seed, name=name)
            for scenario in scenarios for name, controller in controllers.items()}


def evaluation_table(evaluations: dict, metrics=TABLE_METRICS):
    """A pandas DataFrame indexed by (scenario, controller): mean of each metric, the 95 % CI of the mean
    total reward, its median, and the safety violations. ``evaluations`` as :func:`evaluate_controllers`."""
    import pandas as pd

    rows = []
    for (name, scenario), evaluation in evaluations.items():
        reward = evaluation.summary["total_reward"]
        row = {"scenario": scenario, "controller": name, "episodes": len(evaluation.episodes),
               "total_reward": reward["mean"], "ci95_low": reward["ci95"][0], "ci95_high": reward["ci95"][1],
               "median_reward": reward["median"]}
        for metric in metrics:
            if metric != "total_reward":
                row[metric] = float(np.nanmean(evaluation.metric(metric)))
        row["safety_violations"] = int(evaluation.summary["safety_violations"])
        rows.append(row)
    return pd.DataFrame(rows).set_index(["scenario", "controller"])


def plot_evaluation_boxes(evaluations: dict, metric: str = "total_reward", ylabel: str | None = None,
                          symlog: bool = False, jitter_seed: int = 0, log_cost: bool = False):
    """Box plots of ``metric`` per controller, one panel per scenario, every episode drawn as a dot.

    ``symlog``: a symmetric-log y axis, for metrics whose episodes span
    decades (a few bad episodes would otherwise squash the boxes).
    ``log_cost``: draw minus the metric on a logarithmic axis (for a total
    reward that is always negative: the cost, lower is better).
    """
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(scenario for _, scenario in evaluations))
    names = list(dict.fromkeys(name for name, _ in evaluations))
    rng = np.random.default_rng(jitter_seed)
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 3.6), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios):
        present = [name for name in names if (name, scenario) in evaluations]
        values = [evaluations[(name, scenario)].metric(metric) for name in present]
        values = [v[np.isfinite(v)] for v in values]
        if log_cost:
            values = [-v for v in values]
        ax.boxplot(values, showfliers=False, widths=0.55, medianprops={"color": "k"})
        for position, (name, v) in enumerate(zip(present, values), start=1):
            ax.scatter(position + rng.uniform(-0.18, 0.18, len(v)), v, s=9, alpha=0.55,
                       color=_color(name, position - 1), zorder=3)
        ax.set_xticks(range(1, len(present) + 1), present)
        ax.set_title(SCENARIO_TITLES.get(scenario, scenario), fontsize=10)
        if symlog:
            ax.set_yscale("symlog", linthresh=1.0)
        if log_cost:
            ax.set_yscale("log")
    default = ("minus " if log_cost else "") + metric.replace("_", " ") + (" (log scale)" if log_cost else "")
    axes[0][0].set_ylabel(ylabel or default)
    fig.tight_layout()
    return fig


def episode_series(evaluation, episode: int = 0) -> dict:
    """Time series of one evaluated episode: ``hours`` (after each step), ``polymer``, ``temperature``,
    ``initiator_feed``, ``coolant_temperature`` (NaN-free: cut at the episode's length)."""
    rollout = evaluation.rollout
    length = int(rollout["lengths"][episode])
    return {"hours": (np.arange(length) + 1) * HOURS_PER_STEP,
            "polymer": rollout["next_states"][episode, :length, 3],
            "temperature": rollout["next_states"][episode, :length, 4],
            "initiator_feed": rollout["actions"][episode, :length, 0],
            "coolant_temperature": rollout["actions"][episode, :length, 1]}


def plot_policy_trajectories(evaluations: dict, names, scenarios=None, episode: int = 0):
    """Four rows (polymer, temperature, initiator feed, coolant) by one column per scenario.

    Draws episode ``episode`` of each controller in ``names`` (the same seed,
    so the same initial state, for all), the setpoint dashed and the
    temperature limit red.
    """
    import matplotlib.pyplot as plt

    if scenarios is None:
        scenarios = list(dict.fromkeys(scenario for _, scenario in evaluations))
    fig, axes = plt.subplots(4, len(scenarios), figsize=(4.2 * len(scenarios), 8), sharex=True, squeeze=False)
    rows = [("polymer", "polymer P [kg/m3]"), ("temperature", "temperature T [K]"),
            ("initiator_feed", "initiator feed u_I [kg/h]"), ("coolant_temperature", "coolant T_c [K]")]
    for column, scenario in enumerate(scenarios):
        target = get_scenario(scenario).target
        for index, name in enumerate(names):
            series = episode_series(evaluations[(name, scenario)], episode)
            for row, (key, _) in enumerate(rows):
                axes[row, column].plot(series["hours"], series[key], color=_color(name, index), lw=1.4, label=name)
        axes[0, column].axhline(target.polymer, color="k", ls="--", lw=1, label="setpoint")
        axes[1, column].axhline(target.temperature, color="k", ls="--", lw=1, label="setpoint")
        axes[1, column].axhline(TEMPERATURE_LIMIT, color="tab:red", lw=1.3, label="limit")
        axes[0, column].set_title(SCENARIO_TITLES.get(scenario, scenario), fontsize=10)
        axes[-1, column].set_xlabel("time [h]")
    for row, (_, label) in enumerate(rows):
        axes[row, 0].set_ylabel(label, fontsize=8)
    axes[1, 0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_offset_zoom(evaluations: dict, names, scenarios=None, hours: float | None = None,
                     max_episodes: int = 20, robust: bool = True):
    """The setpoint errors over the final ``hours`` of every episode (default: the final quarter,
    over which :func:`cstr.evaluation.evaluate` measures the steady-state offset).

    Two rows (polymer error [kg/m3], temperature error [K]) by one column per
    scenario; each controller's first ``max_episodes`` episodes as thin lines
    and their median as a bold line. Zero is the setpoint; a line that
    flattens away from zero is a steady-state offset. ``robust``: fit each
    panel's y axis to the 10th-90th percentiles of the errors drawn (and
    zero), so that a few outlying episodes do not flatten the rest; the
    panel title says how many episodes lie partly outside.
    """
    import matplotlib.pyplot as plt

    from cstr.evaluation import FINAL_FRACTION
    from cstr.scenarios import HORIZON

    hours = FINAL_FRACTION * HORIZON * HOURS_PER_STEP if hours is None else float(hours)
    if scenarios is None:
        scenarios = list(dict.fromkeys(scenario for _, scenario in evaluations))
    fig, axes = plt.subplots(2, len(scenarios), figsize=(4.2 * len(scenarios), 5.2), sharex=True, squeeze=False)
    for column, scenario in enumerate(scenarios):
        setpoint = get_scenario(scenario).target.setpoint
        drawn = ([], [])
        for index, name in enumerate(names):
            rollout = evaluations[(name, scenario)].rollout
            time = (np.arange(rollout["next_states"].shape[1]) + 1) * HOURS_PER_STEP
            window = time > time[-1] - hours
            for row, state_column in enumerate((3, 4)):
                errors = setpoint[row] - rollout["next_states"][:, window, state_column]
                ax = axes[row, column]
                ax.plot(time[window], errors[:max_episodes].T, color=_color(name, index), lw=0.7, alpha=0.45)
                with np.errstate(all="ignore"):
                    median = np.nanmedian(errors, axis=0) if np.isfinite(errors).any() else errors[0]
                ax.plot(time[window], median, color=_color(name, index), lw=2.2, label=f"{name} (median)")
                drawn[row].append(errors[:max_episodes])
        for row in range(2):
            ax = axes[row, column]
            ax.axhline(0.0, color="k", ls="--", lw=1)
            values = np.concatenate([e.ravel() for e in drawn[row]])
            values = values[np.isfinite(values)]
            if robust and values.size:
                low, high = np.quantile(values, [0.1, 0.9])
                low, high = min(low, 0.0), max(high, 0.0)
                pad = 0.25 * max(high - low, 1e-3)
                ax.set_ylim(low - pad, high + pad)
                outside = sum(int(np.any((e < low - pad) | (e > high + pad))) for e in
                              (episode for block in drawn[row] for episode in block))
                if outside:
                    ax.text(0.99, 0.02, f"{outside} episode(s) partly off the axis", transform=ax.transAxes,
                            ha="right", va="bottom", fontsize=7, color="0.3")
        axes[0, column].set_title(SCENARIO_TITLES.get(scenario, scenario), fontsize=10)
        axes[-1, column].set_xlabel("time [h]")
    axes[0, 0].set_ylabel("polymer error $P_{sp} - P$ [kg/m3]", fontsize=8)
    axes[1, 0].set_ylabel("temperature error $T_{sp} - T$ [K]", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def setpoint_residual(controller, scenario: str) -> np.ndarray:
    """What a controller does when the plant already sits on the target grade.

    Builds the observation of the target grade's steady state with the
    previous action equal to its steady inputs, and returns
    ``controller.act(obs) - steady inputs`` ([kg/h, K]). A controller with
    integral action returns zeros there (the errors are zero, so it moves
    nothing); a learned policy that returns anything else walks the plant off
    the grade and settles where its own map has a fixed point: a
    steady-state offset.
    """
    target = get_scenario(scenario).target
    inputs = np.asarray(target.steady_inputs(), dtype=float)
    obs = np.array([target.polymer, target.temperature, 0.0, 0.0, inputs[0], inputs[1]], dtype=np.float32)
    if hasattr(controller, "reset"):
        controller.reset()
    return np.asarray(controller.act(obs), dtype=float) - inputs


def discounted_returns_to_go(rewards, episode_ids, discount: float) -> np.ndarray:
    """``G_t = sum_k discount^k r_{t+k}`` to the end of each episode, for every transition of a dataset.

    ``episode_ids`` labels consecutive transitions of one episode (as in
    :class:`cstr.data.OfflineDataset`). The sum stops at the episode's last
    recorded step (no bootstrap beyond it).
    """
    rewards = np.asarray(rewards, dtype=float)
    episode_ids = np.asarray(episode_ids)
    out = np.empty_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        if t == len(rewards) - 1 or episode_ids[t + 1] != episode_ids[t]:
            running = 0.0
        running = rewards[t] + discount * running
        out[t] = running
    return out


def value_check(agent, dataset, reward_scale: float) -> dict:
    """IQL's state value at the start of every dataset episode against the return the episode achieved.

    Returns ``value`` (``V(s_0)`` divided by ``reward_scale``, so in reward
    units), ``q`` (the target ``min(Q_1, Q_2)`` of the logged first action,
    same units) and ``discounted_return`` (the episode's discounted return
    from its start, with the agent's discount), one entry per episode.
    """
    import torch

    starts = np.flatnonzero(np.r_[True, np.diff(dataset.episode_ids) != 0])
    returns = discounted_returns_to_go(dataset.rewards, dataset.episode_ids, agent.config.discount)[starts]
    with torch.no_grad():
        s = agent.normaliser.observations(torch.as_tensor(dataset.observations[starts], dtype=torch.float32))
        a = agent.normaliser.to_unit(torch.as_tensor(dataset.actions[starts], dtype=torch.float32))
        value = agent.value(s).numpy() / reward_scale
        q = agent.target_q(s, a).numpy() / reward_scale
    return {"value": value.astype(float), "q": q.astype(float), "discounted_return": returns}


def plot_value_check(checks: dict):
    """Scatter of :func:`value_check` results, one panel per scenario (``{scenario: check}``), with the diagonal."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(checks), figsize=(4.2 * len(checks), 3.8), squeeze=False)
    for ax, (scenario, check) in zip(axes[0], checks.items()):
        ax.scatter(check["discounted_return"], check["value"], s=12, alpha=0.7, label="$V(s_0)$")
        ax.scatter(check["discounted_return"], check["q"], s=12, alpha=0.7, marker="x",
                   label=r"$\hat Q(s_0, a_0)$")
        low = min(np.min(check["discounted_return"]), np.min(check["value"]), np.min(check["q"]))
        high = max(np.max(check["discounted_return"]), np.max(check["value"]), np.max(check["q"]))
        ax.plot([low, high], [low, high], color="k", lw=1, ls="--", label="estimate = return")
        ax.set_title(SCENARIO_TITLES.get(scenario, scenario), fontsize=10)
        ax.set_xlabel("discounted return of the episode")
    axes[0][0].set_ylabel("critic's estimate (reward units)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def reached_then_left(evaluation) -> np.ndarray:
    """Per episode: did it reach the target grade and then leave it again?

    "On the grade" uses the settling bands of :mod:`cstr.evaluation`
    (polymer within ``SETTLING_BAND_POLYMER``, temperature within
    ``SETTLING_BAND_TEMPERATURE`` of the setpoint). An episode *reached then
    left* when it was on the grade at some step and is off it at its last
    step: a controller that drifts away from a setpoint it had already held.
    """
    from cstr.evaluation import SETTLING_BAND_POLYMER, SETTLING_BAND_TEMPERATURE

    rollout = evaluation.rollout
    setpoint = get_scenario(evaluation.scenario).target.setpoint
    out = np.zeros(len(rollout["lengths"]), dtype=bool)
    for e, length in enumerate(rollout["lengths"]):
        states = rollout["next_states"][e, :int(length)]
        inside = ((np.abs(states[:, 3] - setpoint[0]) <= SETTLING_BAND_POLYMER)
                  & (np.abs(states[:, 4] - setpoint[1]) <= SETTLING_BAND_TEMPERATURE))
        out[e] = bool(inside.any() and not inside[-1])
    return out


# --------------------------------------------------------------------------
# Chapters 5 and 6: the PICNN cost model and the action correction.

CONTOUR_GRID = 61
"""Points per axis of the action grid on which :func:`cost_on_action_grid` evaluates a cost surface."""


def midpoint_convexity_check(cost_model, observations, triples: int = 20_000, seed: int = 0) -> dict:
    """The midpoint inequality ``c(s, (a1 + a2) / 2) <= (c(s, a1) + c(s, a2)) / 2`` on random triples.

    ``cost_model``: a :class:`cstr.picnn.PICNN` (physical units in and out).
    States are drawn from ``observations[n, 6]``, the two actions uniformly
    from the input box. Returns ``triples``, ``violations`` (triples where the
    midpoint lies above the chord by more than a relative ``1e-12``, float64
    round-off), ``worst`` (the largest relative excess of the midpoint over
    the chord; negative when every midpoint lies strictly below) and
    ``mean_gap`` (the mean of chord minus midpoint, in cost units: how curved
    the surface is on average).
    """
    import copy

    import torch

    from cstr.envs.core import action_space

    space = action_space()
    rng = np.random.default_rng(seed)
    observations = np.asarray(observations, dtype=np.float64)
    s = observations[rng.integers(0, len(observations), size=triples)]
    a1 = rng.uniform(space.low, space.high, size=(triples, 2))
    a2 = rng.uniform(space.low, space.high, size=(triples, 2))
    model = copy.deepcopy(cost_model).double()
    with torch.no_grad():
        middle = model(torch.tensor(s), torch.tensor((a1 + a2) / 2)).numpy()
        chord = 0.5 * (model(torch.tensor(s), torch.tensor(a1)).numpy() + model(torch.tensor(s), torch.tensor(a2)).numpy())
    relative = (middle - chord) / (1.0 + np.maximum(np.abs(middle), np.abs(chord)))
    return {"triples": int(triples), "violations": int(np.sum(relative > 1e-12)), "worst": float(relative.max()),
            "mean_gap": float(np.mean(chord - middle))}


def cost_on_action_grid(weights: dict, observation, points: int = CONTOUR_GRID):
    """``(initiator_feed[points], coolant[points], cost[points, points])``: c(s, .) over the input box.

    ``weights``: :meth:`cstr.picnn.PICNN.export`; ``observation[6]``: one
    state. ``cost[i, j]`` is the cost at coolant ``coolant[i]`` and initiator
    feed ``initiator_feed[j]`` (the layout of ``matplotlib.contour``).
    """
    from cstr.correction import CostSurface

    low, high = weights["action_low"], weights["action_high"]
    feed = np.linspace(low[0], high[0], points)
    coolant = np.linspace(low[1], high[1], points)
    grid_feed, grid_coolant = np.meshgrid(feed, coolant)
    actions = np.column_stack([grid_feed.ravel(), grid_coolant.ravel()])
    observation = np.asarray(observation, dtype=np.float64).reshape(1, -1)
    surface = CostSurface(weights, np.repeat(observation, len(actions), axis=0))
    return feed, coolant, surface.value(actions).reshape(grid_feed.shape)


CONTOUR_MARKERS = {"dataset": ("o", "k"), "iql": ("s", "tab:purple"), "iql+": ("*", "tab:pink"),
                   "bc": ("^", "tab:green"), "bc+": ("P", "tab:olive")}
"""Marker and colour of each labelled action in :func:`plot_cost_contours`."""


def plot_cost_contours(weights: dict, observations, marks: dict | None = None, titles=None, points: int = CONTOUR_GRID,
                       levels: int = 20, trust_region: float | None = None):
    """Contours of c(s_j, .) over the action plane, one panel per state ``observations[j]``.

    x: initiator feed [kg/h], y: coolant temperature [K]. ``marks``:
    ``{label: actions[n_states, 2]}`` drawn on the panels (the markers of
    :data:`CONTOUR_MARKERS` for the known labels). ``trust_region``: if
    given (normalised units), the box of that half-width around the
    ``"iql"`` mark, the set the correction may move within. The colour scale
    is per panel: only the shape of a surface matters to the correction.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    observations = np.atleast_2d(observations)
    marks = marks or {}
    fig, axes = plt.subplots(1, len(observations), figsize=(3.6 * len(observations), 3.4), squeeze=False)
    half_width = (weights["action_high"] - weights["action_low"]) / 2.0
    for j, (ax, observation) in enumerate(zip(axes[0], observations)):
        feed, coolant, cost = cost_on_action_grid(weights, observation, points)
        contour = ax.contourf(feed, coolant, cost, levels=levels, cmap="viridis")
        ax.contour(feed, coolant, cost, levels=levels, colors="w", linewidths=0.3, alpha=0.5)
        fig.colorbar(contour, ax=ax, shrink=0.85, format="%.2g")
        low_index = np.unravel_index(np.argmin(cost), cost.shape)
        ax.plot(feed[low_index[1]], coolant[low_index[0]], "x", color="w", ms=8, mew=2, label="grid minimum")
        for index, (label, actions) in enumerate(marks.items()):
            marker, color = CONTOUR_MARKERS.get(label, ("D", f"C{index}"))
            action = np.atleast_2d(actions)[j]
            small = label == "dataset"  # drawn small and on top: it often sits under the policy's action
            ax.plot(action[0], action[1], marker, color=color, mec="w", ms=6 if small else 10,
                    zorder=6 if small else 4 + index * 0.1, label=label)
            if trust_region is not None and label == "iql":
                corner = np.maximum(action - trust_region * half_width, weights["action_low"])
                far = np.minimum(action + trust_region * half_width, weights["action_high"])
                ax.add_patch(Rectangle(tuple(corner), *(far - corner), fill=False, ec="w", ls="--", lw=1,
                                       label="trust region", zorder=3))
        ax.set_xlim(weights["action_low"][0], weights["action_high"][0])
        ax.set_ylim(weights["action_low"][1], weights["action_high"][1])
        ax.set_xlabel("initiator feed u_I [kg/h]")
        if titles is not None:
            ax.set_title(titles[j], fontsize=9)
        ax.grid(False)
    axes[0][0].set_ylabel("coolant temperature T_c [K]")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, facecolor="0.6", framealpha=1.0)
    return fig


def correction_label(correction: dict | None) -> str:
    """A short label for a correction setting (a ``CorrectionConfig`` as a dict): ``"K=10, eta=0.1, delta=0.25"``."""
    if correction is None:
        return "uncorrected"
    delta = correction.get("trust_region")
    return (f"K={correction['steps']}, eta={correction['step_size']:g}, "
            f"delta={'none' if delta is None else format(delta, 'g')}")


def selection_table(selection: dict):
    """The validation comparison of ``data/results/correction_selection.json`` as a DataFrame.

    ``selection``: what :func:`cstr.cost_model.select` writes, whose
    ``"rows"`` hold a ``controller``, a cost-model ``target`` (``None`` for
    the uncorrected policy), a ``correction`` setting and the mean validation
    ``returns`` per scenario. The table is indexed by (controller, target,
    setting), one column per scenario plus their ``mean``.
    """
    import pandas as pd

    from cstr.scenarios import SCENARIO_NAMES

    records = []
    for row in selection["rows"]:
        record = {"controller": row["controller"], "target": row["target"] or "-",
                  "setting": correction_label(row["correction"])}
        record.update({scenario: float(value) for scenario, value in row["returns"].items()})
        records.append(record)
    table = pd.DataFrame(records).set_index(["controller", "target", "setting"])
    table = table[[s for s in SCENARIO_NAMES if s in table.columns]]
    table["mean"] = table.mean(axis=1)
    return table


def correction_cost_drop(costs) -> dict:
    """Summaries of ``Correction.costs[K + 1, n]`` (``record=True``): the cost relative to the start.

    Returns ``drop[K + 1, n]`` = c_k - c_0, its ``median`` and 10th/90th
    percentiles per step, ``monotone`` (every row non-increasing) and
    ``unchanged`` (the share of rows whose cost did not move at all).
    """
    costs = np.asarray(costs, dtype=float)
    drop = costs - costs[0]
    return {"drop": drop, "median": np.median(drop, axis=1), "p10": np.percentile(drop, 10, axis=1),
            "p90": np.percentile(drop, 90, axis=1), "monotone": bool(np.all(np.diff(costs, axis=0) <= 0.0)),
            "unchanged": float(np.mean(drop[-1] == 0.0))}


def plot_correction_costs(drops: dict):
    """The cost along the corrections relative to its start, one panel per entry of
    ``drops`` (``{label: correction_cost_drop(...)}``): the median and the 10-90 % band over the states."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(drops), figsize=(3.8 * len(drops), 3.2), squeeze=False, sharey=True)
    for index, (ax, (label, drop)) in enumerate(zip(axes[0], drops.items())):
        steps = np.arange(len(drop["median"]))
        color = CONTROLLER_COLORS.get(label, f"C{index}")
        ax.fill_between(steps, drop["p10"], drop["p90"], color=color, alpha=0.25, label="10-90 %")
        ax.plot(steps, drop["median"], color=color, lw=1.8, label="median")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("correction step k")
    axes[0][0].set_ylabel("c(s, a_k) - c(s, a_0)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def correction_moves(correction, low, high) -> dict:
    """How far a :class:`cstr.correction.Correction` moved the actions, in physical and normalised units.

    ``low``, ``high``: the input bounds. Returns the mean absolute move of
    each input (``initiator_feed`` [kg/h], ``coolant_temperature`` [K]), the
    largest move in normalised units (``max_unit``) and the share of
    actions that moved at all (``moved``).
    """
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    start = np.clip(np.atleast_2d(correction.initial_actions), low, high)
    delta = np.atleast_2d(correction.actions) - start
    unit = np.abs(delta) * 2.0 / (high - low)
    return {"initiator_feed": float(np.mean(np.abs(delta[:, 0]))),
            "coolant_temperature": float(np.mean(np.abs(delta[:, 1]))),
            "max_unit": float(unit.max()), "moved": float(np.mean(np.any(unit > 1e-12, axis=1)))}


def sensitivity_grid(policy, cost_model, configs: dict, episodes: int, scenarios=None, baseline: str | None = "policy"):
    """Mean validation return of ``policy`` corrected with each of ``configs`` (``{label: CorrectionConfig}``).

    Runs :func:`cstr.cost_model.validation_returns` (validation seeds, never
    the evaluation seeds) and returns a DataFrame, one row per label (plus
    ``baseline``, the uncorrected policy, unless ``None``), one column per
    scenario and a ``mean`` column.
    """
    import pandas as pd

    from cstr.correction import CorrectedController
    from cstr.cost_model import validation_returns

    controllers = {} if baseline is None else {baseline: policy}
    controllers.update({label: CorrectedController(policy, cost_model, config, name=label)
                        for label, config in configs.items()})
    table = pd.DataFrame(validation_returns(controllers, scenarios=scenarios, episodes=episodes)).T
    table["mean"] = table.mean(axis=1)
    return table


# --------------------------------------------------------------------------
# Comparisons the chapters state in words (computed here, glued there)

def count_wins(table, better: str, worse: str, metric: str = "total_reward", scenarios=SCENARIO_NAMES) -> int:
    """In how many scenarios ``better`` has a higher ``metric`` than ``worse`` in an
    :func:`evaluation_table`."""
    return int(sum(table.loc[(s, better), metric] > table.loc[(s, worse), metric] for s in scenarios))


def higher_or_lower(value: float, reference: float) -> str:
    return "higher" if value > reference else "lower"


def correction_verdict(table, corrected: str, base: str, scenario: str) -> str:
    """What the correction did to the mean total reward, in words: "improves" only when the
    corrected mean is higher and the 95 % confidence intervals do not overlap."""
    plus, plain = table.loc[(scenario, corrected)], table.loc[(scenario, base)]
    if plus["total_reward"] > plain["total_reward"]:
        return "improves" if plus["ci95_low"] > plain["ci95_high"] else "raises the mean of (CIs overlap)"
    return "does not improve" if plus["ci95_high"] >= plain["ci95_low"] else "worsens"
