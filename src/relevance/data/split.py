"""Category-aware grouped K-fold split of the training rows.

The winning team of CIKM AnalytiCup 2025 (DcuRAGONs) validated with folds that keep
related rows together, so a fold's score says how the model does on queries or
categories it has not seen:

- QI: rows are grouped by the exact (cleaned) query text. The same query with many
  item titles lands in one fold, so the model cannot memorise a query's answers.
- QC: rows are grouped by the first ``qc_prefix_levels`` levels of the category path
  ("home & garden,kitchen"). A whole branch of the catalogue is held out together.
  The same query can still appear in two folds (with different categories).

Folds come from scikit-learn's ``StratifiedGroupKFold``, stratified by language x label,
so every fold keeps the language mix and the positive rate of the whole. Every
training row gets exactly one fold in ``0..folds-1``.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from relevance.errors import ConfigError, DataError
from relevance.schema import Task, category_prefix, get_task
from relevance.tables import FOLDS_SCHEMA, read_table, write_table

log = logging.getLogger(__name__)

LANGUAGE_COLUMN = "lang"  # ISO 639-1 (``vn`` -> ``vi``), see schema.INGESTED_SCHEMA


@dataclasses.dataclass(frozen=True)
class SplitParams:
    """params.yaml section ``split``.

    ``folds``: number of folds K (>= 2); each row is held out in exactly one. The
    winning team used 5.
    ``qc_prefix_levels``: QC rows sharing the first this-many category levels form one
    group (>= 1). 1 holds out whole top-level categories (few, large groups: folds get
    lumpy); 2 (the default) holds out second-level branches such as
    "home & garden,kitchen"; a value at or beyond the path depth groups by full path.
    ``seed``: ``random_state`` of the shuffled ``StratifiedGroupKFold``; the same rows,
    params and seed give the same folds.
    """

    folds: int = 5
    qc_prefix_levels: int = 2
    seed: int = 13

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ConfigError(f"folds must be >= 2, got {self.folds}")
        if self.qc_prefix_levels < 1:
            raise ConfigError(f"qc_prefix_levels must be >= 1, got {self.qc_prefix_levels}")


def _require_columns(rows: pd.DataFrame, columns: tuple[str, ...], purpose: str) -> None:
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise DataError(
            f"{purpose} needs column(s) {', '.join(missing)}; the rows have "
            f"{', '.join(map(str, rows.columns))}"
        )


def group_key_description(task: str, config: SplitParams) -> str:
    """How rows are grouped, for messages: "query text" or "category prefix (2 levels)"."""
    if get_task(task).name == "qi":
        return "query text"
    return f"category prefix ({config.qc_prefix_levels} levels)"


def split_groups(rows: pd.DataFrame, *, task: str, config: SplitParams) -> pd.Series:
    """The group key of every row (a string Series aligned with ``rows``).

    QI: the ``query`` column as is (ingestion already cleaned it: NFC, whitespace).
    QC: the first ``config.qc_prefix_levels`` category levels joined with ",", taken
    from the ``category_levels`` list column where it is set, else split from
    ``candidate`` with :func:`relevance.schema.category_prefix` (same result: ingestion
    builds the list from the cleaned candidate).
    """
    name = get_task(task).name
    if name == "qi":
        _require_columns(rows, ("query",), "grouping QI rows by query")
        groups = rows["query"]
    else:
        _require_columns(rows, ("candidate",), "grouping QC rows by category prefix")
        n = config.qc_prefix_levels
        levels = rows["category_levels"] if "category_levels" in rows.columns else None
        keys = []
        for i, candidate in enumerate(rows["candidate"].tolist()):
            row_levels = None if levels is None else levels.iat[i]
            if row_levels is not None and len(row_levels) > 0:
                keys.append(",".join(list(row_levels)[:n]))
            else:
                keys.append(category_prefix(candidate, n) if isinstance(candidate, str) else None)
        groups = pd.Series(keys, index=rows.index, dtype=object)
    empty = groups.isna() | (groups.astype(str).str.len() == 0)
    if empty.any():
        positions = np.flatnonzero(empty.to_numpy())[:5].tolist()
        raise DataError(
            f"{int(empty.sum())} row(s) have no {group_key_description(name, config)} to "
            f"group by (first row positions {positions})"
        )
    return groups.astype(str).rename("group")


def _labels(rows: pd.DataFrame) -> np.ndarray:
    """The 0/1 labels as int8, or a DataError saying which rows are unlabelled or bad."""
    _require_columns(rows, ("label",), "a stratified split")
    label = rows["label"]
    missing = label.isna().to_numpy()
    if missing.any():
        positions = np.flatnonzero(missing)[:5].tolist()
        raise DataError(
            f"split needs a label on every training row; {int(missing.sum())} of {len(rows)} "
            f"row(s) are unlabelled (first row positions {positions})"
        )
    values = label.to_numpy()
    bad = ~np.isin(values, (0, 1))
    if bad.any():
        raise DataError(
            f"labels must be 0 or 1; got {sorted(set(values[bad].tolist()))[:5]} "
            f"in {int(bad.sum())} row(s)"
        )
    return values.astype(np.int8)


def assign_folds(rows: pd.DataFrame, *, task: str, config: SplitParams) -> np.ndarray:
    """Fold id (int8, shape ``(len(rows),)``, values ``0..folds-1``) of every row.

    ``rows`` are the ingested training rows (``relevance.schema.INGESTED_SCHEMA``): the
    columns used are ``query`` (QI) or ``candidate``/``category_levels`` (QC), ``lang``
    and ``label``. No group is split across folds; folds are stratified by
    language x label. Raises :class:`DataError` when there are fewer groups than folds
    or a label is missing.
    """
    name = get_task(task).name
    if len(rows) == 0:
        raise DataError("split got no rows: expected the ingested training rows")
    _require_columns(rows, (LANGUAGE_COLUMN,), "a split stratified by language")
    labels = _labels(rows)
    groups = split_groups(rows, task=name, config=config)
    n_groups = int(groups.nunique())
    if n_groups < config.folds:
        raise DataError(
            f"split.folds={config.folds} needs at least {config.folds} groups, but the "
            f"{len(rows)} {name.upper()} row(s) form only {n_groups} group(s) by "
            f"{group_key_description(name, config)}"
            + (
                f"; a larger split.qc_prefix_levels (now {config.qc_prefix_levels}) gives "
                "more, smaller groups"
                if name == "qc"
                else ""
            )
        )

    # Stratum = language x label, e.g. "fr|1".
    strata = rows[LANGUAGE_COLUMN].astype(str).to_numpy() + "|" + labels.astype(str)
    values, counts = np.unique(strata, return_counts=True)
    small = [f"{v} ({c} rows)" for v, c in zip(values, counts, strict=True) if c < config.folds]
    if small:
        # scikit-learn would only warn "least populated class"; say which strata.
        log.warning(
            "language x label strata smaller than %d folds cannot reach every fold: %s",
            config.folds,
            ", ".join(small),
        )

    splitter = StratifiedGroupKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    folds = np.full(len(rows), -1, dtype=np.int8)
    codes, _ = pd.factorize(groups)  # integer group ids: np.unique on ints is fast
    with warnings.catch_warnings():
        # Reported above with the strata named.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        try:
            for fold, (_, held_out) in enumerate(
                splitter.split(np.zeros(len(rows)), strata, groups=codes)
            ):
                folds[held_out] = fold
        except ValueError as exc:
            raise DataError(
                f"cannot split {len(rows)} row(s) into {config.folds} folds: {exc}"
            ) from None
    empty = [f for f in range(config.folds) if not (folds == f).any()]
    if empty or (folds < 0).any():
        raise DataError(
            f"split left fold(s) {empty} empty: {n_groups} groups by "
            f"{group_key_description(name, config)} are too few or too uneven for "
            f"{config.folds} folds"
        )
    log.info(
        "%s: %d rows, %d groups by %s, %d folds of %s rows",
        name,
        len(rows),
        n_groups,
        group_key_description(name, config),
        config.folds,
        np.bincount(folds, minlength=config.folds).tolist(),
    )
    return folds


def _shares(values: pd.Series) -> dict[str, float]:
    return {str(k): float(v) for k, v in values.value_counts(normalize=True).sort_index().items()}


def fold_balance(rows: pd.DataFrame, folds: np.ndarray) -> dict[str, Any]:
    """How far each fold is from the whole, JSON-ready (plain ints and floats).

    Returns::

        {"rows": N, "folds": K, "positive_rate": p, "language_share": {lang: share},
         "per_fold": {"0": {"rows", "row_share", "positive_rate", "language_share"}, ...},
         "max_abs_deviation": {"row_share": ..., "positive_rate": ...,
                               "language_share": ...}}

    ``max_abs_deviation.row_share`` is the largest ``|fold rows / N - 1/K|``;
    ``positive_rate`` the largest ``|fold positive rate - whole|``; ``language_share``
    the largest ``|fold share - whole share|`` over folds and languages (a language
    absent from a fold counts as share 0).
    """
    folds = np.asarray(folds)
    if folds.shape != (len(rows),):
        raise ValueError(f"folds: expected shape ({len(rows)},), got {folds.shape}")
    _require_columns(rows, (LANGUAGE_COLUMN, "label"), "fold balance")
    labels = _labels(rows)
    langs = rows[LANGUAGE_COLUMN].astype(str).reset_index(drop=True)
    whole_rate = float(labels.mean())
    whole_share = _shares(langs)
    fold_ids = sorted(int(f) for f in np.unique(folds))
    k = len(fold_ids)
    per_fold: dict[str, Any] = {}
    dev_rows = dev_rate = dev_lang = 0.0
    for f in fold_ids:
        mask = folds == f
        rate = float(labels[mask].mean())
        share = _shares(langs[mask])
        row_share = float(mask.sum() / len(rows))
        per_fold[str(f)] = {
            "rows": int(mask.sum()),
            "row_share": row_share,
            "positive_rate": rate,
            "language_share": share,
        }
        dev_rows = max(dev_rows, abs(row_share - 1.0 / k))
        dev_rate = max(dev_rate, abs(rate - whole_rate))
        dev_lang = max(
            dev_lang, *(abs(share.get(lang, 0.0) - s) for lang, s in whole_share.items())
        )
    return {
        "rows": len(rows),
        "folds": k,
        "positive_rate": whole_rate,
        "language_share": whole_share,
        "per_fold": per_fold,
        "max_abs_deviation": {
            "row_share": dev_rows,
            "positive_rate": dev_rate,
            "language_share": dev_lang,
        },
    }


def split_task(task: Task, *, train: Path, out: Path, params: SplitParams) -> dict[str, Any]:
    """The split@<task> stage: read the ingested training rows, write every row's fold
    (:data:`relevance.tables.FOLDS_SCHEMA`) to ``out``; return the counts."""
    rows = read_table(train, made_by=f"ingest@{task.name}")
    folds = assign_folds(rows, task=task.name, config=params)
    write_table(pd.DataFrame({"id": rows["id"], "fold": folds.astype("int8")}), out, FOLDS_SCHEMA)
    return {"rows": len(rows), "folds": params.folds, **fold_balance(rows, folds)}
