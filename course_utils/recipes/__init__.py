"""The recipes of the shipped pretrained models, one module per notebook (``nbNN_<topic>.py``).

Each module defines ``RECIPES``, a list of :class:`~course_utils.runs.Recipe`; :func:`all_recipes`
collects them by name. ``scripts/train_pretrained.py NAME`` trains one and exports it to ``pretrained/``.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..runs import Recipe


def all_recipes() -> dict[str, Recipe]:
    """Every recipe of every ``nbNN_*`` module, by name (names are unique across modules)."""
    found: dict[str, Recipe] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not module.name.startswith("nb"):
            continue
        for recipe in importlib.import_module(f"{__name__}.{module.name}").RECIPES:
            if recipe.name in found:
                raise ValueError(f"two recipes are called {recipe.name!r}; names must be unique")
            found[recipe.name] = recipe
    return found


def get(name: str) -> Recipe:
    """The recipe called ``name``; ``KeyError`` listing the known names otherwise."""
    recipes = all_recipes()
    if name not in recipes:
        raise KeyError(f"no recipe {name!r}; known: {', '.join(sorted(recipes)) or 'none'}")
    return recipes[name]
