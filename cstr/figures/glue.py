"""Glue for the chapters: one key convention for numbers that the prose quotes from tables.

The chapters quote numbers from results tables (pandas DataFrames indexed by
(scenario, controller)) through myst-nb's glue. Every such number is glued
under the key

    ``{scenario}_{controller}_{name}``

where ``name`` is the short name the chapter gives a column (``reward`` for
``total_reward``, ``low`` and ``high`` for ``ci95_low`` and ``ci95_high``, ...)
and every part is made safe for a glue name: ``+`` becomes ``_plus`` and ``-``
becomes ``_``. So the mean total reward of ``iql+`` in the startup is
``startup_iql_plus_reward`` and the upper end of the confidence interval of
``pi-tuned`` in the grade change down is ``grade_down_pi_tuned_high``; the prose
quotes them as ``{glue:text}`startup_iql_plus_reward:.2f```.

:func:`glue_key` is that convention and :func:`glue_table` glues a table with
it, so a chapter's prose can name any cell without knowing how the chapter
looped over the table. :func:`word_list`, :func:`number_list`, :func:`number_range` and
:func:`seeds_text` turn lists into the prose the chapters glue.
"""

from __future__ import annotations

from collections.abc import Mapping


def glue_name(part) -> str:
    """One part of a glue key: ``+`` -> ``_plus`` (``_plus_`` inside a name), ``-`` -> ``_``.

    ``glue_name("iql+")`` is ``"iql_plus"``, ``glue_name("bc+offset-free")`` is ``"bc_plus_offset_free"``.
    """
    return str(part).replace("+", "_plus_").replace("-", "_").strip("_").replace("__", "_")


def word_list(items) -> str:
    """Items as prose: ``["a", "b", "c"]`` -> ``"a, b and c"``; one item alone; ``""`` for none."""
    items = [str(item) for item in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def number_list(values, fmt: str = "{:.0f}") -> str:
    """Numbers as a comma-separated list, each formatted with ``fmt``: ``[3, 0, 12]`` -> ``"3, 0, 12"``."""
    return ", ".join(fmt.format(value) for value in values)


def number_range(values, fmt: str = "{:.1f}", separator: str = "-") -> str:
    """The span of ``values``: ``"1.5-7.0"`` (its ends joined by ``separator``), one number where both ends read
    the same in ``fmt``, ``""`` for none."""
    values = list(values)
    if not values:
        return ""
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low}{separator}{high}"


def seeds_text(seeds) -> str:
    """Training seeds as prose: ``[2]`` -> ``"seed 2"``, ``[2, 5]`` -> ``"seeds 2 and 5"``, ``[]`` -> ``"no seed"``."""
    seeds = list(seeds)
    if not seeds:
        return "no seed"
    return f"seed{'s' if len(seeds) > 1 else ''} {word_list(seeds)}"


def glue_key(scenario, controller, name) -> str:
    """The glue key of column ``name`` of ``controller`` in ``scenario``: ``{scenario}_{controller}_{name}``.

    ``glue_key("startup", "iql+", "reward")`` is ``"startup_iql_plus_reward"``,
    ``glue_key("grade_down", "pi-tuned", "offset")`` is ``"grade_down_pi_tuned_offset"``,
    ``glue_key("startup", "iql+full-state", "reward")`` is ``"startup_iql_plus_full_state_reward"``.
    """
    return "_".join(glue_name(part) for part in (scenario, controller, name))


def glue_table(table, columns: Mapping[str, str]) -> list[str]:
    """Glue every row of ``table`` (indexed by (scenario, controller)), one number per column in ``columns``.

    ``columns`` maps the name in the key to the table's column, for example
    ``{"reward": "total_reward", "low": "ci95_low", "high": "ci95_high"}``;
    each cell is glued as a float under :func:`glue_key` ``(scenario,
    controller, name)`` with ``display=False``. Returns the keys, in the
    order glued. Raises ``KeyError`` for a column the table lacks and
    ``ValueError`` when the index is not two levels deep or two cells would
    share a key (``pi-tuned`` and ``pi_tuned`` in one table); then nothing is glued.
    """
    # myst_nb is a book dependency, not a library one: cstr must import without the book extras.
    from myst_nb import glue

    if table.index.nlevels != 2:
        raise ValueError(f"expected a table indexed by (scenario, controller), got {table.index.nlevels} level(s)")
    missing = [column for column in columns.values() if column not in table.columns]
    if missing:
        raise KeyError(f"the table has no column(s) {missing}")
    cells = {}
    for (scenario, controller), values in table.iterrows():
        for name, column in columns.items():
            key = glue_key(scenario, controller, name)
            if key in cells:
                raise ValueError(f"two cells of the table would share the glue key {key!r}")
            cells[key] = float(values[column])
    for key, value in cells.items():
        glue(key, value, display=False)
    return list(cells)
