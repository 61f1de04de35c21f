"""The data contract: tasks, column names, languages and category paths.

Competition files (CIKM AnalytiCup 2025) carry ``origin_query`` and either
``category_path`` (QC) or ``item_title`` (QI). Inside the pipeline both tasks use the
same column names, ``query`` and ``candidate``, so everything downstream (prompt,
negatives, training) is written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from relevance.errors import ConfigError


@dataclass(frozen=True)
class Task:
    """One of the two relevance tasks."""

    name: str  # "qc" or "qi": the name used in params, stage names and paths
    code: str  # "QC" or "QI": the value of the ``task`` field in the competition files
    candidate_field: str  # field holding the candidate in the competition files
    candidate_label: str  # how the prompt names the candidate


TASKS: dict[str, Task] = {
    "qc": Task("qc", "QC", "category_path", "category path"),
    "qi": Task("qi", "QI", "item_title", "item title"),
}

SPLITS = ("train", "dev", "test")


def get_task(name: str) -> Task:
    try:
        return TASKS[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}: expected one of {sorted(TASKS)}") from None


# Levels are separated by "," with no space after it; a level name may itself contain
# ", " ("automobiles, parts & accessories,interior accessories"). So split on a comma
# that is not followed by whitespace.
_LEVEL_SEPARATOR = re.compile(r",(?!\s)")

# Level names that contain a comma with no space after it, so the rule above would cut
# them in two. Seen in the real data (a top-level category of ~4% of QC rows).
NAMES_WITH_BARE_COMMA = frozenset({"sports shoes,clothing&accessories"})


def _rejoin_known_names(parts: list[str]) -> list[str]:
    """Join adjacent parts that together form a name in NAMES_WITH_BARE_COMMA."""
    joined: list[str] = []
    for part in parts:
        if joined and f"{joined[-1]},{part}".lower() in NAMES_WITH_BARE_COMMA:
            joined[-1] = f"{joined[-1]},{part}"
        else:
            joined.append(part)
    return joined


def category_levels(path: str) -> list[str]:
    """Split a category path into its levels.

    >>> category_levels("automobiles, parts & accessories,interior accessories")
    ['automobiles, parts & accessories', 'interior accessories']
    >>> category_levels("sports shoes,clothing&accessories,running shoes")
    ['sports shoes,clothing&accessories', 'running shoes']
    """
    parts = [level.strip() for level in _LEVEL_SEPARATOR.split(path) if level.strip()]
    return _rejoin_known_names(parts)


def category_prefix(path: str, levels: int) -> str:
    """The first ``levels`` levels of a path, joined back with ","."""
    return ",".join(category_levels(path)[:levels])
