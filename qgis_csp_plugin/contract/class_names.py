"""Class names that differ only in case (``Water`` and ``water``) are refused when a model is trained:
SQLite (so GeoPackage fields) and the accuracy assessment's name matching ignore case, so such classes
could not be told apart downstream. Shared by the plugin's training and the trainer."""

from __future__ import annotations

from collections.abc import Iterable


def case_conflict(names: Iterable[str]) -> str | None:
    """A sentence naming the classes that differ only in case, or ``None`` when there are none."""
    groups: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        groups.setdefault(name.casefold(), []).append(name)
    clashes = [" / ".join(repr(n) for n in sorted(group)) for group in groups.values() if len(group) > 1]
    if not clashes:
        return None
    return (f"the classes {'; '.join(clashes)} differ only in upper/lower case, which GeoPackage fields and the "
            "accuracy assessment do not tell apart: merge them into one class or rename one")
