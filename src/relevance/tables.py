"""The data contract between stages: every table a stage writes, in one place.

Each stage output is a Parquet file with one of the schemas below, written by
:func:`write_table` with one policy (the schema exactly, no index or pandas metadata,
zstd): the same rows give the same bytes, so DVC sees no change when nothing changed.
Readers check the columns they need with :func:`require_columns`.

The id rule: a row that comes from a competition file keeps its integer ``id``
(ingested, predictions, pivot); a training row is identified by a string, ``"<id>"``
for an original row and ``"<kind>:<target language>:<source id>"`` for one made from
it (``tr:de:17`` translated, ``neg:de:17`` a hard negative), with the integer
``source_id`` beside it. After ingest, ``lang`` (ISO 639-1, ``vi``) is the column code
decides by; ``language`` is the code as the data spells it (lower-cased, ``vn``), kept
for reports and submissions.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from relevance.errors import DataError

_LEVELS = pa.list_(pa.string())

# ingest@<task>: one file per split. ``label`` is null where unknown (the competition's
# dev/test files).
INGESTED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("task", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),  # lower-cased, e.g. "vn"
        pa.field("language_raw", pa.string(), nullable=False),  # as given, e.g. "VN"
        pa.field("lang", pa.string(), nullable=False),  # ISO 639-1, e.g. "vi"
        pa.field("query", pa.string(), nullable=False),  # cleaned
        pa.field("candidate", pa.string(), nullable=False),  # cleaned; "" when missing (dev/test)
        pa.field("label", pa.int8(), nullable=True),
        pa.field("query_raw", pa.string(), nullable=False),  # as given
        pa.field("candidate_raw", pa.string(), nullable=True),  # as given (null: missing)
        pa.field("category_levels", _LEVELS, nullable=True),  # QC only
        # dev/test rows kept although faulty, scored as they are: "empty_field",
        # "missing_field", "bad_label" (comma-separated); null for clean rows.
        pa.field("defect", pa.string(), nullable=True),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_line", pa.int64(), nullable=False),
    ]
)

# ingest@<task>: every record that did not make it into a split file, with why.
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("split", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_line", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),  # cut short when too long
        # What a submission needs to answer a dev/test record: its id (null when it
        # cannot be read) and the given text fields (null when not text).
        pa.field("id", pa.int64(), nullable=True),
        pa.field("language_raw", pa.string(), nullable=True),
        pa.field("query_raw", pa.string(), nullable=True),
        pa.field("candidate_raw", pa.string(), nullable=True),
    ]
)

# split@<task>: the cross-validation fold of every training row.
FOLDS_SCHEMA = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("fold", pa.int8(), nullable=False)]
)

# translate@<task>: synthetic rows for a language missing from training.
TRANSLATED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # tr:<target>:<source id>
        pa.field("language", pa.string(), nullable=False),  # target as the data spells it
        pa.field("lang", pa.string(), nullable=False),  # target, ISO 639-1
        pa.field("query", pa.string(), nullable=False),  # translated
        pa.field("candidate", pa.string(), nullable=False),  # kept from the source row
        pa.field("label", pa.int8(), nullable=False),  # kept from the source row
        pa.field("category_levels", _LEVELS, nullable=True),  # QC only
        pa.field("source_id", pa.int64(), nullable=False),
        pa.field("source_language", pa.string(), nullable=False),  # ISO
        pa.field("target_language", pa.string(), nullable=False),  # ISO
        pa.field("source_query", pa.string(), nullable=False),
        pa.field("translator", pa.string(), nullable=False),
        pa.field("prompt_version", pa.string(), nullable=False),
        pa.field("similarity", pa.float64(), nullable=True),
    ]
)

# pivot@<task>: the English of every query (empty when input.pivot_en is off).
PIVOT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("query", pa.string(), nullable=False),
        pa.field("query_en", pa.string(), nullable=True),  # None where the gate failed
        pa.field("reason", pa.string(), nullable=True),  # the gate's reason, else None
    ]
)

# Hard negatives as mined, before their query is translated into the target language.
NEGATIVES_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # neg:<target language>:<source id>
        pa.field("language", pa.string(), nullable=False),  # target, as spelled in the data
        pa.field("lang", pa.string(), nullable=False),  # target, ISO 639-1
        pa.field("query", pa.string(), nullable=False),  # the source query, untranslated
        pa.field("candidate", pa.string(), nullable=False),  # the mined negative
        pa.field("label", pa.int8(), nullable=False),  # always 0
        pa.field("category_levels", _LEVELS, nullable=True),  # QC only
        pa.field("source_id", pa.int64(), nullable=False),  # the positive training row
        pa.field("source_language", pa.string(), nullable=False),
        pa.field("positive_candidate", pa.string(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),  # among the other candidates, 0-based
        pa.field("similarity", pa.float32(), nullable=False),  # cosine to positive_candidate
    ]
)

# negatives@<task>: a mined negative whose query was translated into the target
# language and passed the translation quality gate.
TRANSLATED_NEGATIVES_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # neg:<target>:<source id>
        pa.field("language", pa.string(), nullable=False),  # target, as spelled in the data
        pa.field("lang", pa.string(), nullable=False),
        pa.field("query", pa.string(), nullable=False),  # translated into the target
        pa.field("candidate", pa.string(), nullable=False),  # the mined negative
        pa.field("label", pa.int8(), nullable=False),  # always 0
        pa.field("category_levels", _LEVELS, nullable=True),
        pa.field("source_id", pa.int64(), nullable=False),
        pa.field("source_language", pa.string(), nullable=False),
        pa.field("source_query", pa.string(), nullable=False),
        pa.field("positive_candidate", pa.string(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
        pa.field("similarity", pa.float32(), nullable=False),  # negative vs positive candidate
        pa.field("translation_similarity", pa.float64(), nullable=True),
        pa.field("translator", pa.string(), nullable=False),
        pa.field("prompt_version", pa.string(), nullable=False),
    ]
)

# assemble@<task> (and filter@<task>, which may add ``relabelled``): the training table.
AUGMENTED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_id", pa.int64(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("query", pa.string(), nullable=False),
        pa.field("candidate", pa.string(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("category_levels", _LEVELS, nullable=True),
        pa.field("fold", pa.int8(), nullable=False),
    ]
)

# selfval@<task>: p(yes) of every training row from a filter model that did not see it.
SELFVAL_SCORES_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("fold", pa.int8()),
        pa.field("model", pa.int16()),
        pa.field("p_yes", pa.float64()),
    ]
)

# selfval@<task>: the rows flagged as likely label errors.
FLAGGED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("language", pa.string()),
        pa.field("query", pa.string()),
        pa.field("candidate", pa.string()),
        pa.field("label", pa.int8()),
        pa.field("p_yes", pa.float64()),
        pa.field("self_confidence", pa.float64()),
        pa.field("threshold", pa.float64()),
        pa.field("reason", pa.string()),
    ]
)

# cv@<task>: out-of-fold p(yes) of the fold models.
OOF_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("fold", pa.int8()),
        pa.field("model", pa.int16()),
        pa.field("language", pa.string()),
        pa.field("label", pa.int8()),
        pa.field("p_yes", pa.float64()),
    ]
)

# predict@<task>: p(yes) of every dev/test row.
PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("p_yes", pa.float64(), nullable=False),
        pa.field("label", pa.int8(), nullable=True),
    ]
)

# baseline@<task>: the TF-IDF baseline's p(yes) of every dev/test row.
BASELINE_SCHEMA = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("p_yes", pa.float64(), nullable=False)]
)


def require_columns(rows: pd.DataFrame, columns: Iterable[str], *, what: str) -> None:
    """Raise :class:`DataError` naming the columns ``what`` lacks."""
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise DataError(f"{what}: missing columns {missing}; got {list(rows.columns)}")


def to_arrow(rows: pd.DataFrame, schema: pa.Schema, *, keep_extra: bool = False) -> pa.Table:
    """``rows`` as an Arrow table with exactly ``schema`` (columns in its order); with
    ``keep_extra``, other columns of ``rows`` follow (filter@<task>'s ``relabelled``)."""
    require_columns(rows, schema.names, what=f"a table for {', '.join(schema.names[:3])}, ...")
    table = pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False)
    if keep_extra:
        for column in (c for c in rows.columns if c not in schema.names):
            table = table.append_column(column, pa.array(rows[column].to_numpy()))
    return table.replace_schema_metadata(None)


def write_arrow(table: pa.Table, path: Path) -> None:
    """Write an Arrow table: zstd, no pandas metadata (the same rows, the same bytes)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(None), path, compression="zstd")


def write_table(
    rows: pd.DataFrame, path: Path, schema: pa.Schema, *, keep_extra: bool = False
) -> None:
    """Write ``rows`` as Parquet with exactly ``schema`` (see :func:`to_arrow`)."""
    write_arrow(to_arrow(rows, schema, keep_extra=keep_extra), path)


def empty_frame(schema: pa.Schema) -> pd.DataFrame:
    """A zero-row frame with ``schema``'s columns."""
    return schema.empty_table().to_pandas()


def read_table(path: Path, *, made_by: str) -> pd.DataFrame:
    """A stage output as a frame; a missing file says which stage makes it."""
    if not Path(path).is_file():
        raise DataError(f"{path} not found: run {made_by} first")
    return pd.read_parquet(path)
