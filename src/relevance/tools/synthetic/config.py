"""The synthetic sample's size and shape: rows per task and split, the label noise, the
share of each kind of negative (:class:`SampleConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from relevance.errors import ConfigError

# Default row counts. Train: the fewest rows from which the default recipe (gemma-3-270m
# yes/no LoRA, 3 epochs) learned each task on more than one seed: 100 per language for
# QC (80 gave dev AUC 0.82 at one seed and 0.76 at another), 60 for QI (AUC 0.95);
# BENCHMARKS.md "A default run that learns". Every train row costs LoRA training twice
# per `dvc repro` (the out-of-fold filter models and the final model). Dev/test: small
# but covering every language of the split (40 rows per language in both tasks).
DEFAULT_SIZES = {
    ("QC", "train"): 600,
    ("QC", "dev"): 400,
    ("QC", "test"): 200,
    ("QI", "train"): 420,
    ("QI", "dev"): 520,
    ("QI", "test"): 260,
}
_RATES = (
    "positive_rate",
    "hard_negative_share",
    "label_noise",
    "string_label_rate",
    "duplicate_rate",
    "duplicate_conflict_share",
    "typo_rate",
    "code_mix_rate",
    "brand_model_rate",
    "whitespace_rate",
    "nfd_rate",
    "missing_title_rate",
)
# Duplicates copy a row drawn uniformly from a reservoir of this many earlier rows, so
# memory stays flat at any size.
RESERVOIR = 4096
# Pairs remembered to avoid accidental repeats. Past this many rows the catalogue is
# saturated (98 leaves x a few query shapes), a redraw rarely helps and only costs time:
# competition-sized files repeat pairs naturally (about a quarter of QC train rows).
SEEN_LIMIT = 50_000


@dataclass(frozen=True)
class SampleConfig:
    """Every knob of the generator. Defaults write the bundled ``data/sample``.

    Row counts (``qc_train`` ... ``qi_test``) are per file; rows are spread evenly over
    the split's languages (``SPLIT_LANGUAGES``). Rates are probabilities in [0, 1]:

    - ``positive_rate``: share of label-1 rows per language (0.65; the real data has 69%
      QC / 62% QI).
    - ``hard_negative_share``: share of negatives that are hard: a sibling category
      (QC), or an item with a named attribute changed, an accessory instead of the
      product or a sibling-category item (QI). The rest pair the query with a random
      leaf of another top-level category.
    - ``label_noise``: train labels flipped at random, recorded nowhere (real labels are
      noisy too; the self-validation filter should find some of these).
    - ``string_label_rate``: train labels written as "0"/"1" strings, as the real data
      sometimes does.
    - ``duplicate_rate``: share of train rows that repeat an earlier (query, candidate)
      pair; ``duplicate_conflict_share`` of those carry the opposite label.
    - ``typo_rate``, ``whitespace_rate``, ``nfd_rate``: queries with one slipped letter,
      extra/leading/trailing spaces, or NFD-decomposed text (titles get whitespace at
      half the rate and NFD at the same rate).
    - ``code_mix_rate``: non-English queries with an English word in them.
    - ``brand_model_rate``: among items with a model, queries that are only brand+model
      ("iphone 13"); about a quarter of items have a model, so ~9% of all queries.
    - ``missing_title_rate``: QI train rows whose ``item_title`` is null (the real QI
      train had 453 of 340k; the ingest stage quarantines them).
    """

    seed: int = 13
    qc_train: int = DEFAULT_SIZES["QC", "train"]
    qc_dev: int = DEFAULT_SIZES["QC", "dev"]
    qc_test: int = DEFAULT_SIZES["QC", "test"]
    qi_train: int = DEFAULT_SIZES["QI", "train"]
    qi_dev: int = DEFAULT_SIZES["QI", "dev"]
    qi_test: int = DEFAULT_SIZES["QI", "test"]
    positive_rate: float = 0.65
    hard_negative_share: float = 0.5
    label_noise: float = 0.03
    string_label_rate: float = 0.05
    duplicate_rate: float = 0.01
    duplicate_conflict_share: float = 0.3
    typo_rate: float = 0.05
    code_mix_rate: float = 0.08
    brand_model_rate: float = 0.35
    whitespace_rate: float = 0.05
    nfd_rate: float = 0.03
    missing_title_rate: float = 0.002

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _RATES:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"sample {f.name}: expected a number, got {value!r}")
                if not 0.0 <= value <= 1.0:
                    raise ConfigError(f"sample {f.name}: expected a rate in [0, 1], got {value}")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"sample {f.name}: expected an integer, got {value!r}")
            elif f.name != "seed" and value < 0:
                raise ConfigError(f"sample {f.name}: expected a row count >= 0, got {value}")

    @classmethod
    def scaled(cls, scale: float = 1.0, **overrides: Any) -> SampleConfig:
        """Defaults with every row count multiplied by ``scale`` (rounded); explicit
        ``overrides`` (e.g. ``qc_train=300_000``, ``seed=1``) win."""
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale < 0:
            raise ConfigError(f"sample size scale: expected a number >= 0, got {scale!r}")
        sizes = {
            f"{task.lower()}_{split}": round(rows * scale)
            for (task, split), rows in DEFAULT_SIZES.items()
        }
        unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"sample: unknown settings {unknown}")
        return cls(**{**sizes, **overrides})

    def size(self, task: str, split: str) -> int:
        """Row count of ``{split}_{task}.txt``."""
        return getattr(self, f"{task.lower()}_{split}")
