"""What every figure shares: scenario titles, controller colours in the registry's order, time axes."""

from __future__ import annotations

from cstr.experiments.registry import CONTROLLER_NAMES

SCENARIO_TITLES = {"startup": "Startup", "grade_down": "Grade change down", "grade_up": "Grade change up"}
_PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:olive", "tab:pink", "tab:brown", "tab:gray")
CONTROLLER_COLORS = dict(zip(CONTROLLER_NAMES, _PALETTE)) | {
    # a darker shade of each absolute twin's colour, so that the pairs read as pairs
    "bc-increments": "darkolivegreen",
    "iql-increments": "mediumvioletred",
}
"""The colour of each shipped controller, in the registry's order, in every figure of the book."""


def controller_color(name: str, index: int = 0) -> str:
    """The controller's colour, or matplotlib's ``C<index>`` for a name outside the registry."""
    return CONTROLLER_COLORS.get(name, f"C{index % 10}")
