"""Write ``book/api.md``, the API reference, from the package itself: ``python scripts/write_api_page.py``.

One section per module, grouped by layer in the package's import order (the
layers of ``pyproject.toml``'s import-linter contract), each titled with the
first line of the module's docstring and rendered by Sphinx autodoc. Run it
after adding, moving or renaming a module; ``tests/test_api_page.py`` fails
while the page is out of date. ``--check`` exits 1 instead of writing.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from pathlib import Path

import cstr

PAGE = Path(__file__).resolve().parent.parent / "book" / "api.md"
LAYERS = [
    ("cstr.storage", "The data folder and its manifest"),
    ("cstr.seeds", "The seed policy"),
    ("cstr.plant", "Physics: model, integration, scenarios"),
    ("cstr.envs", "The Gymnasium environments"),
    ("cstr.control", "Classical control and the episode runner"),
    ("cstr.data", "The offline datasets"),
    ("cstr.agents", "Offline RL agents"),
    ("cstr.safety", "The convex action correction"),
    ("cstr.experiments", "Experiments: registry, evaluation, selection, results"),
    ("cstr.figures", "Figures"),
]
INTRO = """# API reference

The Python package `cstr` holds every piece of logic the chapters call. This
page is written by `scripts/write_api_page.py` from the package itself and
rendered from the docstrings (Sphinx autodoc), so it lists every module and
always matches the code the book was built with. The sections follow the
package's layers, from the physics up; each layer imports only the layers
above it on this page (`lint-imports` checks it).

```python
import gymnasium
import cstr  # registers the environment "cstr/PolymerCSTR-v0"

env = gymnasium.make("cstr/PolymerCSTR-v0", scenario="startup")
observation, info = env.reset(seed=0)
controller = cstr.load_controller("pi-tuned")
action = controller.act(observation)
```

Signatures are shown without type hints; the docstrings state the shapes and
units that matter. Symbols and units follow the {doc}`notation` page.
"""


def modules_of(package: str) -> list[str]:
    module = importlib.import_module(package)
    if not hasattr(module, "__path__"):
        return [package]
    names = [package] if (module.__doc__ or "").strip() else []
    for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda info: info.name):
        if not info.name.startswith("_"):
            names += modules_of(f"{package}.{info.name}")
    return names


def title(name: str) -> str:
    """The module's name and the first sentence of its docstring, reST roles turned into Markdown code."""
    doc = (importlib.import_module(name).__doc__ or "").strip().split("\n\n")[0]
    first = " ".join(doc.split()).rstrip(".")
    first = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", first).replace("``", "`")
    return f"`{name}`" + (f": {first}" if first else "")


def page() -> str:
    covered = {name for package, _ in LAYERS for name in modules_of(package)}
    every = set(modules_of("cstr")) - {"cstr", "cstr.__main__"}
    missing = sorted(every - covered)
    if missing:
        raise SystemExit(f"modules outside the layers of {__file__}: {', '.join(missing)}")
    parts = [INTRO]
    for package, heading in LAYERS:
        parts.append(f"## {heading}\n")
        for name in modules_of(package):
            parts.append(f"### {title(name)}\n\n```{{eval-rst}}\n.. automodule:: {name}\n```\n")
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if book/api.md is out of date")
    args = parser.parse_args(argv)
    text = page()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE} is out of date: run python scripts/write_api_page.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    assert cstr
    sys.exit(main())
