"""Dataset statistics with DuckDB SQL over the ingested Parquet files.

All aggregation happens in SQL (no Python loops over rows), so the same queries run on
the 13k-row sample and on the 640k-row competition data in seconds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import duckdb

from relevance.errors import DataError
from relevance.schema import SPLITS, Task

QUANTILES = (0.25, 0.5, 0.75, 0.95)


@dataclasses.dataclass(frozen=True)
class StatsParams:
    """Dataset statistics."""

    top_categories: int = 20  # how many top-level categories to list (QC)


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def connect(split_files: dict[str, Path]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view ``rows`` over all splits (column ``split`` added)."""
    con = duckdb.connect(":memory:")
    if not split_files:
        raise ValueError("no split files given")
    union = " UNION ALL BY NAME ".join(
        f"SELECT '{split}' AS split, * FROM read_parquet({_sql_path(path)})"
        for split, path in split_files.items()
    )
    con.execute(f"CREATE VIEW rows AS {union}")
    return con


def pair_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Per split: (query, candidate) pairs seen more than once, and those with >1 label.

    Conflicting pairs are counted, not resolved: the self-validation stage decides
    later what to do with noisy labels.
    """
    rows = con.execute(
        """
        SELECT split,
               count(*) FILTER (WHERE n > 1)                   AS duplicate_pairs,
               coalesce(sum(n) FILTER (WHERE n > 1), 0)        AS rows_in_duplicate_pairs,
               count(*) FILTER (WHERE n_labels > 1)            AS conflicting_pairs,
               coalesce(sum(n) FILTER (WHERE n_labels > 1), 0) AS rows_in_conflicting_pairs
        FROM (SELECT split, query, candidate, count(*) AS n, count(DISTINCT label) AS n_labels
              FROM rows GROUP BY split, query, candidate)
        GROUP BY split ORDER BY split
        """
    ).fetchall()
    names = (
        "duplicate_pairs",
        "rows_in_duplicate_pairs",
        "conflicting_pairs",
        "rows_in_conflicting_pairs",
    )
    return {split: dict(zip(names, map(int, values), strict=True)) for split, *values in rows}


def language_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, dict[str, Any]]]:
    """rows / positive / negative / unlabelled / positive_rate per split x language."""
    rows = con.execute(
        """
        SELECT split, language,
               count(*)                         AS rows,
               count(*) FILTER (WHERE label = 1) AS positive,
               count(*) FILTER (WHERE label = 0) AS negative,
               count(*) FILTER (WHERE label IS NULL) AS unlabelled,
               avg(label)                        AS positive_rate
        FROM rows GROUP BY split, language ORDER BY split, language
        """
    ).fetchall()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for split, language, n, pos, neg, unlabelled, rate in rows:
        entry: dict[str, Any] = {
            "rows": int(n),
            "positive": int(pos),
            "negative": int(neg),
            "unlabelled": int(unlabelled),
        }
        if rate is not None:
            entry["positive_rate"] = round(float(rate), 4)
        out.setdefault(split, {})[language] = entry
    return out


def languages(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Languages per split and those in dev/test but absent from train.

    Compared on the ISO code (``lang``), reported with the code as given too, because
    the translation stage needs the ISO code and the submission keeps the given one.
    """
    per_split = dict(
        con.execute(
            "SELECT split, list(DISTINCT language ORDER BY language) FROM rows GROUP BY split"
        ).fetchall()
    )
    missing = con.execute(
        """
        SELECT DISTINCT language, lang FROM rows
        WHERE split <> 'train' AND lang NOT IN (SELECT lang FROM rows WHERE split = 'train')
        ORDER BY lang
        """
    ).fetchall()
    return {
        "by_split": {split: list(langs) for split, langs in sorted(per_split.items())},
        "missing_from_train": [{"language": given, "lang": iso} for given, iso in missing],
    }


def query_lengths(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, dict[str, float]]]:
    """Query length in characters and in whitespace-separated words, per split."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for unit, expr in (("chars", "length(query)"), ("words", "len(string_split(query, ' '))")):
        rows = con.execute(
            f"""
            SELECT split, min(x), quantile_cont(x, {list(QUANTILES)}), max(x), avg(x)
            FROM (SELECT split, {expr} AS x FROM rows) GROUP BY split ORDER BY split
            """
        ).fetchall()
        for split, lo, qs, hi, mean in rows:
            entry = {"min": float(lo)}
            entry.update(
                {
                    f"p{round(q * 100)}": round(float(v), 4)
                    for q, v in zip(QUANTILES, qs, strict=True)
                }
            )
            entry.update({"max": float(hi), "mean": round(float(mean), 3)})
            out.setdefault(f"query_{unit}", {})[split] = entry
    return out


def category_stats(con: duckdb.DuckDBPyConnection, *, top: int) -> dict[str, Any]:
    """QC only: depth distribution, distinct paths, and the most frequent top levels."""
    depth = con.execute(
        """
        SELECT split, len(category_levels) AS depth, count(*) FROM rows
        GROUP BY split, depth ORDER BY split, depth
        """
    ).fetchall()
    distinct = con.execute(
        """
        SELECT split, count(DISTINCT candidate), count(DISTINCT category_levels[1])
        FROM rows GROUP BY split ORDER BY split
        """
    ).fetchall()
    top_rows = con.execute(
        """
        SELECT split, category_levels[1] AS top_level, count(*) AS n,
               row_number() OVER (PARTITION BY split ORDER BY count(*) DESC, top_level) AS rank
        FROM rows GROUP BY split, top_level QUALIFY rank <= ? ORDER BY split, rank
        """,
        [top],
    ).fetchall()
    out: dict[str, Any] = {"category_depth": {}, "category_paths": {}, "top_level_categories": {}}
    for split, d, n in depth:
        out["category_depth"].setdefault(split, {})[str(d)] = int(n)
    for split, paths, tops in distinct:
        out["category_paths"][split] = {
            "distinct_paths": int(paths),
            "distinct_top_levels": int(tops),
        }
    for split, name, n, _ in top_rows:
        out["top_level_categories"].setdefault(split, {})[name] = int(n)
    return out


def compute_stats(
    split_files: dict[str, Path], *, is_qc: bool, top_categories: int
) -> dict[str, Any]:
    """Every statistic for one task, as a JSON-ready mapping."""
    con = connect(split_files)
    try:
        result: dict[str, Any] = {
            "rows": language_counts(con),
            "languages": languages(con),
            "pairs": pair_counts(con),
            **query_lengths(con),
        }
        if is_qc:
            result.update(category_stats(con, top=top_categories))
        return result
    finally:
        con.close()


def metrics_view(stats: dict[str, Any]) -> dict[str, Any]:
    """The numeric part of the statistics, for ``dvc metrics diff`` (no lists)."""
    view = {key: value for key, value in stats.items() if key != "languages"}
    view["languages"] = {
        "per_split": {split: len(langs) for split, langs in stats["languages"]["by_split"].items()},
        "missing_from_train": len(stats["languages"]["missing_from_train"]),
    }
    view["totals"] = {
        split: sum(entry["rows"] for entry in by_language.values())
        for split, by_language in stats["rows"].items()
    }
    return view


def markdown_report(stats: dict[str, Any], *, task_code: str) -> str:
    """Markdown like the paper's Table 1 (languages as columns, splits as rows) and more."""
    rows = stats["rows"]
    langs = sorted({lang for by_language in rows.values() for lang in by_language})
    split_order = [s for s in ("train", "dev", "test") if s in rows]

    def table(header: list[str], body: list[list[Any]]) -> str:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(str(c) for c in line) + " |" for line in body]
        return "\n".join(lines)

    parts = [f"# Dataset statistics: {task_code}", "", "## Rows per split and language", ""]
    parts.append(
        table(
            ["split", *langs, "total"],
            [
                [s]
                + [rows[s].get(lang, {}).get("rows", 0) for lang in langs]
                + [sum(e["rows"] for e in rows[s].values())]
                for s in split_order
            ],
        )
    )
    labelled = [s for s in split_order if any("positive_rate" in e for e in rows[s].values())]
    if labelled:
        parts += ["", "## Positive rate per split and language", ""]
        parts.append(
            table(
                ["split", *langs],
                [
                    [s]
                    + [
                        f"{rows[s][lang]['positive_rate']:.3f}"
                        if "positive_rate" in rows[s].get(lang, {})
                        else "-"
                        for lang in langs
                    ]
                    for s in labelled
                ],
            )
        )
    missing = stats["languages"]["missing_from_train"]
    parts += [
        "",
        "## Languages in dev/test but not in train",
        "",
        ", ".join(f"`{m['language']}` ({m['lang']})" for m in missing) or "none",
        "",
        "## Duplicate and conflicting (query, candidate) pairs",
        "",
        table(
            ["split", "duplicate pairs", "rows in them", "conflicting pairs", "rows in them"],
            [
                [
                    s,
                    p["duplicate_pairs"],
                    p["rows_in_duplicate_pairs"],
                    p["conflicting_pairs"],
                    p["rows_in_conflicting_pairs"],
                ]
                for s, p in stats["pairs"].items()
            ],
        ),
        "",
        "## Query length",
        "",
    ]
    quantile_keys = ["min", *[f"p{round(q * 100)}" for q in QUANTILES], "max", "mean"]
    parts.append(
        table(
            ["split", "unit", *quantile_keys],
            [
                [s, unit, *[f"{stats[f'query_{unit}'][s][k]:g}" for k in quantile_keys]]
                for s in split_order
                for unit in ("chars", "words")
            ],
        )
    )
    if "category_depth" in stats:
        depths = sorted({int(d) for by_depth in stats["category_depth"].values() for d in by_depth})
        parts += ["", "## Category depth", ""]
        parts.append(
            table(
                ["split", *map(str, depths), "distinct paths", "distinct top levels"],
                [
                    [s]
                    + [stats["category_depth"][s].get(str(d), 0) for d in depths]
                    + [
                        stats["category_paths"][s]["distinct_paths"],
                        stats["category_paths"][s]["distinct_top_levels"],
                    ]
                    for s in split_order
                ],
            )
        )
        train_top = stats["top_level_categories"].get("train") or next(
            iter(stats["top_level_categories"].values()), {}
        )
        parts += ["", "## Most frequent top-level categories (train)", ""]
        parts.append(table(["top-level category", "rows"], [[k, v] for k, v in train_top.items()]))
    return "\n".join(parts) + "\n"


def stats_task(task: Task, *, ingested: Path, params: StatsParams) -> dict[str, Any]:
    """The stats@<task> stage: every statistic of the ingested splits (train required,
    dev and test when present), as :func:`compute_stats` returns them."""
    split_files = {s: ingested / f"{s}.parquet" for s in SPLITS}
    split_files = {s: path for s, path in split_files.items() if path.is_file()}
    if "train" not in split_files:
        raise DataError(f"{ingested}/train.parquet not found: run ingest@{task.name} first")
    return compute_stats(split_files, is_qc=task.name == "qc", top_categories=params.top_categories)
