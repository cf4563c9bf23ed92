"""What the cost models and the correction do, measured: convexity, minimisers, cost surfaces, moves."""

from __future__ import annotations

import copy

import numpy as np
import torch

from cstr.envs.core import action_space
from cstr.plant.model import DEFAULT_PARAMETERS
from cstr.plant.scenarios import CONTROL_INTERVAL, GRADES, HOURS_PER_STEP
from cstr.plant.simulate import integrate_interval
from cstr.safety.correction import CostSurface, correct
from cstr.safety.dynamics import DynamicsModel
from cstr.safety.history import history_features
from cstr.safety.narx import NARXModel
from cstr.safety.picnn import PICNN

CONTOUR_GRID = 61
"""Points per axis of the action grid on which :func:`cost_on_action_grid` evaluates a cost surface."""


def midpoint_convexity_check(cost_model, observations, triples: int = 20_000, seed: int = 0) -> dict:
    """The midpoint inequality ``c(s, (a1 + a2) / 2) <= (c(s, a1) + c(s, a2)) / 2`` on random triples.

    ``cost_model``: a :class:`cstr.safety.picnn.PICNN` (physical units in and out).
    States are drawn from ``observations[n, d]`` (the model's input: observations or
    windows of them), the two actions uniformly
    from the input box. Returns ``triples``, ``violations`` (triples where the
    midpoint lies above the chord by more than a relative ``1e-12``, float64
    round-off), ``worst`` (the largest relative excess of the midpoint over
    the chord; negative when every midpoint lies strictly below) and
    ``mean_gap`` (the mean of chord minus midpoint, in cost units: how curved
    the surface is on average).
    """
    space = action_space()
    rng = np.random.default_rng(seed)
    observations = np.asarray(observations, dtype=np.float64)
    s = observations[rng.integers(0, len(observations), size=triples)]
    a1 = rng.uniform(space.low, space.high, size=(triples, 2))
    a2 = rng.uniform(space.low, space.high, size=(triples, 2))
    model = copy.deepcopy(cost_model).double()
    with torch.no_grad():
        middle = model(torch.tensor(s), torch.tensor((a1 + a2) / 2)).numpy()
        chord = 0.5 * (
            model(torch.tensor(s), torch.tensor(a1)).numpy() + model(torch.tensor(s), torch.tensor(a2)).numpy()
        )
    relative = (middle - chord) / (1.0 + np.maximum(np.abs(middle), np.abs(chord)))
    return {
        "triples": int(triples),
        "violations": int(np.sum(relative > 1e-12)),
        "worst": float(relative.max()),
        "mean_gap": float(np.mean(chord - middle)),
    }


def cost_on_action_grid(weights: dict, observation, points: int = CONTOUR_GRID):
    """``(initiator_feed[points], coolant[points], cost[points, points])``: c(s, .) over the input box.

    ``weights``: :meth:`cstr.safety.picnn.PICNN.export`; ``observation[d]``: one
    state (the model's input, an observation or a window of them). ``cost[i, j]`` is the cost
    at coolant ``coolant[i]`` and initiator feed ``initiator_feed[j]`` (the layout of ``matplotlib.contour``).
    """
    low, high = weights["action_low"], weights["action_high"]
    feed = np.linspace(low[0], high[0], points)
    coolant = np.linspace(low[1], high[1], points)
    grid_feed, grid_coolant = np.meshgrid(feed, coolant)
    actions = np.column_stack([grid_feed.ravel(), grid_coolant.ravel()])
    observation = np.asarray(observation, dtype=np.float64).reshape(1, -1)
    surface = CostSurface(weights, np.repeat(observation, len(actions), axis=0))
    return feed, coolant, surface.value(actions).reshape(grid_feed.shape)


def correction_cost_drop(costs) -> dict:
    """Summaries of ``Correction.costs[K + 1, n]`` (``record=True``): the cost relative to the start.

    Returns ``drop[K + 1, n]`` = c_k - c_0, its ``median`` and 10th/90th
    percentiles per step, ``monotone`` (every row non-increasing) and
    ``unchanged`` (the share of rows whose cost did not move at all).
    """
    costs = np.asarray(costs, dtype=float)
    drop = costs - costs[0]
    return {
        "drop": drop,
        "median": np.median(drop, axis=1),
        "p10": np.percentile(drop, 10, axis=1),
        "p90": np.percentile(drop, 90, axis=1),
        "monotone": bool(np.all(np.diff(costs, axis=0) <= 0.0)),
        "unchanged": float(np.mean(drop[-1] == 0.0)),
    }


def correction_moves(correction, low, high) -> dict:
    """How far a :class:`cstr.safety.correction.Correction` moved the actions, in physical and normalised units.

    ``low``, ``high``: the input bounds. Returns the mean absolute move of
    each input (``initiator_feed`` [kg/h], ``coolant_temperature`` [K]), the
    largest move in normalised units (``max_unit``) and the share of
    actions that moved at all (``moved``).
    """
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    start = np.clip(np.atleast_2d(correction.initial_actions), low, high)
    delta = np.atleast_2d(correction.actions) - start
    unit = np.abs(delta) * 2.0 / (high - low)
    return {
        "initiator_feed": float(np.mean(np.abs(delta[:, 0]))),
        "coolant_temperature": float(np.mean(np.abs(delta[:, 1]))),
        "max_unit": float(unit.max()),
        "moved": float(np.mean(np.any(unit > 1e-12, axis=1))),
    }


def steady_history(grade, window: int) -> np.ndarray:
    """The window of ``window`` observations of a reactor that has sat on ``grade`` with its steady inputs."""
    inputs = grade.steady_inputs()
    observation = np.array([grade.polymer, grade.temperature, 0.0, 0.0, inputs[0], inputs[1]])
    return np.tile(observation, window)


def steady_state_minimisers(
    grade,
    agent=None,
    dynamics: DynamicsModel | NARXModel | None = None,
    cost: PICNN | None = None,
    horizon: int = 6,
    discount: float = 0.97,
    half_widths=(0.1, 1.5),
    points: int = 41,
) -> dict[str, np.ndarray]:
    """The best action on a grid around ``grade``'s steady inputs, by each cost given.

    The process sits exactly on the grade, with the steady inputs applied
    before: the right answer is to keep those inputs. ``agent``: IQL's
    critic (its arg max of Q); ``dynamics``: the model's tracking cost
    ``C_L`` (arg min; a full-state model starts from the steady state, a
    NARX model from the steady history); ``cost``: a PICNN (arg min, on the
    steady history of its window). The grid spans
    ``steady inputs ± half_widths`` (kg/h, K) with ``points`` per axis.
    """
    inputs = grade.steady_inputs()
    feeds = np.linspace(inputs[0] - half_widths[0], inputs[0] + half_widths[0], points)
    coolants = np.linspace(inputs[1] - half_widths[1], inputs[1] + half_widths[1], points)
    grid = np.stack(np.meshgrid(feeds, coolants, indexing="ij"), axis=-1).reshape(-1, 2)
    observation = np.array([grade.polymer, grade.temperature, 0.0, 0.0, inputs[0], inputs[1]])
    observations = torch.as_tensor(np.repeat(observation[None], len(grid), 0), dtype=torch.float32)
    actions = torch.as_tensor(grid, dtype=torch.float32)
    best = {"steady inputs": inputs}
    with torch.no_grad():
        if agent is not None:
            q = agent.target_q(agent.normaliser.observations(observations), agent.normaliser.to_unit(actions))
            best["IQL critic (arg max Q)"] = grid[int(torch.argmax(q))]
        if isinstance(dynamics, NARXModel):
            history = np.repeat(steady_history(grade, dynamics.window)[None], len(grid), 0)
            tracking = dynamics.tracking_cost(history, actions, horizon, discount)
            best[f"NARX model (arg min C_L, L = {horizon})"] = grid[int(torch.argmin(tracking))]
        elif dynamics is not None:
            states = torch.as_tensor(np.repeat(grade.steady_state()[None], len(grid), 0), dtype=torch.float32)
            setpoints = torch.as_tensor(np.repeat(grade.setpoint[None], len(grid), 0), dtype=torch.float32)
            tracking = dynamics.tracking_cost(states, actions, setpoints, horizon, discount)
            best[f"full-state model (arg min C_L, L = {horizon})"] = grid[int(torch.argmin(tracking))]
        if cost is not None:
            history = np.repeat(steady_history(grade, cost.window)[None], len(grid), 0)
            best["cost model (arg min c)"] = grid[int(torch.argmin(cost(history, actions)))]
    return best


def response_check(
    model: DynamicsModel | NARXModel, grades=None, moves=((0.05, 0.0), (0.0, 1.0)), params=None, intervals: int = 1
) -> list[dict]:
    """The model's response to small input moves held for ``intervals`` from each grade's steady state,
    beside the plant's.

    For a book, not for training: the plant (:func:`cstr.plant.simulate.integrate_interval`)
    is only the yardstick. A full-state model starts from the steady state, a NARX
    model from the steady history (:func:`steady_history`). Each row: grade, the move
    (du_I [kg/h], dT_c [K]), and the change of P [kg/m3] and T [K] after ``intervals``
    control intervals, true and predicted.
    """
    grades = GRADES if grades is None else grades
    params = DEFAULT_PARAMETERS if params is None else params
    rows = []
    for grade in grades:
        state, inputs = grade.steady_state(params), grade.steady_inputs(params)
        for move in moves:
            action = inputs + np.asarray(move, dtype=float)
            true_next = state
            for _ in range(intervals):
                true_next = np.asarray(integrate_interval(true_next, action, CONTROL_INTERVAL, params))
            with torch.no_grad():
                if isinstance(model, NARXModel):
                    history = steady_history(grade, model.window)[None]
                    measured = model.rollout(history, action[None], intervals)[0, -1].double().numpy()
                    predicted = np.r_[state[:3], measured]
                else:
                    predicted = torch.as_tensor(state[None], dtype=torch.float32)
                    for _ in range(intervals):
                        predicted = model(predicted, action[None])
                    predicted = predicted[0].double().numpy()
            rows.append(
                {
                    "grade": grade.name,
                    "move u_I [kg/h]": move[0],
                    "move T_c [K]": move[1],
                    "plant dP [kg/m3]": true_next[3] - state[3],
                    "model dP [kg/m3]": predicted[3] - state[3],
                    "plant dT [K]": true_next[4] - state[4],
                    "model dT [K]": predicted[4] - state[4],
                }
            )
    return rows


HOT_PROPOSAL = (2.5, 350.0)
"""The hottest action in the input box: the most initiator and the warmest jacket [kg/h, K]."""


def limit_term_check(
    features, cost_models: dict, plant: NARXModel, config, threshold: float = 355.0, horizon: int = 6
) -> dict:
    """What corrections do where a hot proposal's predicted temperature nears the limit.

    ``features``: windows of observations (the cost models' and ``plant``'s
    input); the proposal is :data:`HOT_PROPOSAL` everywhere. The states kept
    are those where ``plant`` predicts a peak of at least ``threshold`` K
    over ``horizon`` intervals under it. Returns ``near`` (how many),
    ``proposal_peak`` [near] and, per name of ``cost_models`` (PICNNs),
    ``peaks[name]``: the predicted peak after the correction with ``config``.
    """
    features = np.asarray(features, dtype=np.float64)
    hot = np.tile(np.asarray(HOT_PROPOSAL, dtype=np.float64), (len(features), 1))
    peak = plant.predicted_peak_temperature(features, hot, horizon)
    near = peak >= threshold
    peaks = {}
    for name, model in cost_models.items():
        corrected = correct(CostSurface(model.export(), features[near]), hot[near], config).actions
        peaks[name] = plant.predicted_peak_temperature(features[near], corrected, horizon)
    return {"near": int(near.sum()), "proposal_peak": peak[near], "peaks": peaks}


def minimiser_shifts(minimisers: dict, label_prefix: str) -> dict[str, np.ndarray]:
    """How far one cost's best action lies from the steady inputs, per grade.

    ``minimisers``: ``{grade name: steady_state_minimisers(...)}``; the cost is
    the entry whose label starts with ``label_prefix``. Returns ``{grade name:
    (du_I [kg/h], dT_c [K])}``.
    """
    shifts = {}
    for grade, rows in minimisers.items():
        label = next(key for key in rows if key.startswith(label_prefix))
        shifts[grade] = np.asarray(rows[label]) - np.asarray(rows["steady inputs"])
    return shifts


def peak_predictions(plant: NARXModel, observations, actions, next_temperatures, horizon: int = 6) -> dict:
    """Along one logged episode: ``plant``'s hottest predicted temperature over the next ``horizon`` intervals,
    fed the inputs that were then applied, against the plant's own.

    ``observations [n, 6]``, ``actions [n, 2]`` and ``next_temperatures [n]`` [K] are one episode's rows, up to
    its end. The window the model reads at step k is the one a deployed controller keeps
    (:func:`cstr.safety.history.history_features`). Returns ``start`` (the steps k = 0 .. n - horizon),
    ``predicted`` and ``realised``: the hottest temperature over the intervals k .. k + horizon - 1 [K].
    """
    observations = np.asarray(observations, dtype=np.float64)
    n = len(observations)
    if n < horizon or len(actions) != n or len(next_temperatures) != n:
        raise ValueError(
            f"need one action and one next temperature per observation, and at least {horizon} of each; "
            f"got {n} observations, {len(actions)} actions, {len(next_temperatures)} temperatures"
        )
    features = history_features(observations, np.zeros(n, dtype=np.int64), plant.window)
    starts = np.arange(n - horizon + 1)
    ahead = starts[:, None] + np.arange(horizon)[None, :]
    with torch.no_grad():
        trajectory = plant.rollout(features[starts], np.asarray(actions, dtype=np.float64)[ahead], horizon)
    predicted = trajectory[..., 1].amax(1).double().numpy()
    realised = np.asarray(next_temperatures, dtype=np.float64)[ahead].max(1)
    return {"start": starts, "predicted": predicted, "realised": realised}


def last_window_misses(plant: NARXModel, run: dict, horizon: int = 6, before_hours: float | None = None) -> dict:
    """:func:`peak_predictions` over every episode of a rollout (:func:`cstr.control.rollout.rollout`'s dict),
    read at each episode's last window, the one that ends where the episode ended.

    Returns, per episode: ``miss`` (the plant's hottest temperature over that window minus ``plant``'s
    prediction [K]), ``cooling`` (the temperature at the window's start minus the prediction: positive where the
    model foresees cooling) and, with ``before_hours``, ``before`` (the largest absolute error over the windows
    that end by then, e.g. before a fault can start).
    """
    misses, cooling, before = [], [], []
    for row, length in enumerate(np.asarray(run["lengths"], dtype=int)):
        peaks = peak_predictions(
            plant,
            run["observations"][row, :length],
            run["actions"][row, :length],
            run["next_observations"][row, :length, 1],
            horizon,
        )
        misses.append(peaks["realised"][-1] - peaks["predicted"][-1])
        cooling.append(float(run["observations"][row, peaks["start"][-1], 1]) - peaks["predicted"][-1])
        if before_hours is not None:
            early = (peaks["start"] + horizon) * HOURS_PER_STEP <= before_hours
            before.append(float(np.abs(peaks["realised"] - peaks["predicted"])[early].max()))
    out = {"miss": np.array(misses), "cooling": np.array(cooling)}
    if before_hours is not None:
        out["before"] = np.array(before)
    return out
