"""Figures of chapter 8: NMPC at work, against the PI controllers, on one live episode."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from cstr.figures.style import controller_color
from cstr.plant.scenarios import HOURS_PER_STEP, TEMPERATURE_LIMIT

LINE_STYLES = ("-", "--", "-.", ":")


def plot_live_episode(rollouts: dict, names=("nmpc", "pi-tuned"), episode: int = 0, title: str | None = None):
    """Polymer, temperature (with the limit) and both inputs of one episode, every controller in ``names``.

    ``rollouts``: ``{name: rollout result}`` (:func:`cstr.control.rollout.rollout`:
    ``rewards [n, H]``, ``next_states [n, H, 5]``, ``actions [n, H, 2]``) on
    the same seeds; other keys are ignored. Four panels (2 by 2, one time
    axis): polymer and temperature above, the initiator feed and the coolant
    temperature (as steps, held over each interval) below; each controller
    in its colour and its own line style, in the order of ``names``.
    Returns the figure.
    """
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    for index, name in enumerate(names):
        result = rollouts[name]
        hours = np.arange(1, result["rewards"].shape[1] + 1) * HOURS_PER_STEP
        style = {"ls": LINE_STYLES[index % len(LINE_STYLES)], "color": controller_color(name, index), "label": name}
        axes[0, 0].plot(hours, result["next_states"][episode, :, 3], **style)
        axes[0, 1].plot(hours, result["next_states"][episode, :, 4], **style)
        axes[1, 0].step(hours, result["actions"][episode, :, 0], where="pre", **style)
        axes[1, 1].step(hours, result["actions"][episode, :, 1], where="pre", **style)
    axes[0, 1].axhline(TEMPERATURE_LIMIT, color="red", lw=0.8)
    labels = ["polymer P [kg/m³]", "temperature T [K]", "initiator feed u_I [kg/h]", "coolant temperature T_c [K]"]
    for ax, label in zip(axes.flat, labels):
        ax.set_ylabel(label)
    axes[1, 0].set_xlabel("time [h]")
    axes[1, 1].set_xlabel("time [h]")
    axes[0, 0].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
