"""What a plant historian holds: a window of recent observations, for training and at deployment.

The observation (``cstr.envs.core.OBSERVATION_NAMES``) carries polymer,
temperature, their errors to the setpoint and the inputs applied in the
previous interval. Monomer, initiator and radicals are not measured, and
their effect on what happens next is visible only in how the measured
quantities have been moving. A window of the last ``W`` observations,
newest first, is the information a deployed controller can keep itself::

    h_t = (o_t, o_{t-1}, ..., o_{t-W+1})          [6 W]

and, because every observation carries the previous interval's inputs, it
holds the input history too. Before an episode has ``W`` observations, the
window is filled with the episode's first one, in the datasets
(:func:`history_features`) exactly as in the deployed buffer
(:class:`HistoryBuffer`), so training and deployment see the same features.
``W = 1`` is the observation itself.
"""

from __future__ import annotations

import numpy as np

from cstr.envs import core

OBS_DIM = len(core.OBSERVATION_NAMES)


def episode_starts(episode_ids) -> np.ndarray:
    """True on the first row of each episode of concatenated datasets (ids change at every boundary)."""
    ids = np.asarray(episode_ids)
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError(f"episode_ids must be a non-empty 1-D array, got shape {ids.shape}")
    return np.r_[True, ids[1:] != ids[:-1]]


def history_indices(episode_ids, window: int) -> np.ndarray:
    """``[n, window]`` row indices of ``h_t`` for every row t: t, t-1, ..., clamped at the episode's first row.

    Rows of one episode must be contiguous and in time order, as the datasets store them.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 observation, got {window}")
    starts = episode_starts(episode_ids)
    first_row = np.maximum.accumulate(np.where(starts, np.arange(len(starts)), 0))
    rows = np.arange(len(starts))[:, None] - np.arange(window)[None, :]
    return np.maximum(rows, first_row[:, None])


def history_features(observations, episode_ids, window: int) -> np.ndarray:
    """``h_t`` (newest first, flattened to ``[n, 6 window]``) for every row of the datasets."""
    observations = np.asarray(observations)
    return observations[history_indices(episode_ids, window)].reshape(len(observations), window * OBS_DIM)


def next_history_features(observations, next_observations, episode_ids, window: int) -> np.ndarray:
    """``h_{t+1}``: the next observation followed by the newest ``window - 1`` entries of ``h_t``."""
    current = history_features(observations, episode_ids, window)
    return np.concatenate([np.asarray(next_observations), current[:, : (window - 1) * OBS_DIM]], axis=1)


class HistoryBuffer:
    """A deployed controller's own window of observations, one row per parallel episode.

    :meth:`push` appends the newest observation and returns ``h_t`` as
    features ``[n, 6 window]``; a row's first observation after
    :meth:`reset` fills its whole window, as in the datasets. A batch of a
    different size starts every row afresh.
    """

    def __init__(self, window: int):
        if window < 1:
            raise ValueError(f"window must be at least 1 observation, got {window}")
        self.window = int(window)
        self.windows: np.ndarray | None = None  # [n, window, 6], newest first
        self.fresh: np.ndarray | None = None

    def reset(self, rows=None) -> None:
        """Forget the history of ``rows`` (all rows when ``None``): their next observation starts a new episode."""
        if rows is None or self.windows is None:
            self.windows, self.fresh = None, None
        else:
            self.fresh[np.asarray(rows)] = True

    def push(self, observations) -> np.ndarray:
        batch = np.atleast_2d(np.asarray(observations, dtype=np.float64))
        if batch.ndim != 2 or batch.shape[1] != OBS_DIM:
            raise ValueError(f"observations must have shape [{OBS_DIM}] or [n, {OBS_DIM}], got {batch.shape}")
        if self.windows is None or len(self.windows) != len(batch):
            # a batch of another size is another set of episodes (as for the PI controllers' integrators)
            self.windows = np.empty((len(batch), self.window, OBS_DIM))
            self.fresh = np.ones(len(batch), dtype=bool)
        self.windows[:, 1:] = self.windows[:, :-1].copy()
        self.windows[:, 0] = batch
        if self.fresh.any():
            self.windows[self.fresh] = batch[self.fresh, None, :]
            self.fresh[:] = False
        return self.windows.reshape(len(batch), self.window * OBS_DIM).copy()
