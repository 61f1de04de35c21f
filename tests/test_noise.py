"""Label-noise flagging on hand-written arrays (in-memory, no model): the confident-learning
math of selfval, the fold plan, and the filter that acts on the flags."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from relevance.errors import ConfigError, DataError
from relevance.folds.filter import FilterParams, apply_filter
from relevance.folds.plan import oof_plan
from relevance.folds.selfval import SelfValParams, find_label_issues, flagged_rows
from relevance.params import load_section, parse_section

# Ten rows. By hand:
#   t_1 = mean p_yes over label 1 = (.9 + .8 + .7 + .3 + .1 + .95) / 6 = 0.625
#   t_0 = mean p_no  over label 0 = (.8 + .9 + .4 + .15) / 4        = 0.5625
# Candidates: row 3 (label 1, p_no .7 >= t_0), row 4 (label 1, p_no .9),
# row 9 (label 0, p_yes .85 >= t_1). Row 8 (label 0, p_yes .6) leans "yes" but stays
# under t_1: not a candidate. Self-confidence: row 4 .1 < row 9 .15 < row 3 .3.
LABELS = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
P_YES = np.array([0.9, 0.8, 0.7, 0.3, 0.1, 0.95, 0.2, 0.1, 0.6, 0.85])
LANG = ["en", "fr", "en", "fr", "en", "fr", "en", "fr", "en", "fr"]


def issues(max_flag_fraction: float = 1.0, min_confidence: float = 0.5, **kw) -> pd.DataFrame:
    return find_label_issues(
        labels=kw.get("labels", LABELS),
        p_yes=kw.get("p_yes", P_YES),
        max_flag_fraction=max_flag_fraction,
        min_confidence=min_confidence,
    )


def flagged_positions(frame: pd.DataFrame) -> list[int]:
    return np.flatnonzero(frame["flagged"].to_numpy()).tolist()


def test_thresholds_and_flags_by_hand() -> None:
    out = issues()
    assert len(out) == 10
    assert list(out.columns) == ["flagged", "reason", "candidate", "self_confidence", "threshold"]
    # Rows labelled 1 are compared with t_0, rows labelled 0 with t_1.
    assert out["threshold"].tolist()[:6] == pytest.approx([0.5625] * 6)
    assert out["threshold"].tolist()[6:] == pytest.approx([0.625] * 4)
    assert out["self_confidence"].tolist() == pytest.approx(
        [0.9, 0.8, 0.7, 0.3, 0.1, 0.95, 0.8, 0.9, 0.4, 0.15]
    )
    assert flagged_positions(out) == [3, 4, 9]
    assert out["reason"].tolist() == [
        None,
        None,
        None,
        "label_1_model_says_no",
        "label_1_model_says_no",
        None,
        None,
        None,
        None,
        "label_0_model_says_yes",
    ]
    assert not out.loc[8, "candidate"]  # p_yes .6 > p_no, but under t_1 = .625


def test_argmax_rule_on_top_of_threshold() -> None:
    # A model shy of "no": t_0 = mean(.4, .4) = .4. Row 1 (label 1) has p_no .4 >= t_0
    # but still says "yes" more (p_yes .6): not a candidate.
    out = issues(labels=np.array([1, 1, 0, 0]), p_yes=np.array([0.9, 0.6, 0.6, 0.6]))
    assert out["threshold"].tolist() == pytest.approx([0.4, 0.4, 0.75, 0.75])
    assert not out["candidate"].any()
    # Raise row 1's p_no above p_yes: now it is flagged (t_1 = .65 keeps rows 2, 3).
    out = issues(labels=np.array([1, 1, 0, 0]), p_yes=np.array([0.9, 0.4, 0.6, 0.6]))
    assert flagged_positions(out) == [1]


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        (0.0, []),
        (0.1, [4]),  # floor(1.0) = 1: the least self-confident candidate
        (0.2, [4, 9]),
        (0.29, [4, 9]),  # floor(2.9) = 2
        (0.3, [3, 4, 9]),
        (1.0, [3, 4, 9]),  # the cap never adds non-candidates
    ],
)
def test_cap_keeps_least_self_confident(fraction: float, expected: list[int]) -> None:
    out = issues(max_flag_fraction=fraction)
    assert flagged_positions(out) == expected
    assert out["candidate"].sum() == 3  # cut by the cap, still reported as candidates


@pytest.mark.parametrize(
    ("min_confidence", "expected"),
    [
        (0.0, [3, 4, 9]),
        (0.5, [3, 4, 9]),  # implied by the argmax rule: no change
        (0.8, [4, 9]),  # row 3 has p_no .7
        (0.88, [4]),  # row 9 has p_yes .85
        (0.95, []),
    ],
)
def test_min_confidence(min_confidence: float, expected: list[int]) -> None:
    assert flagged_positions(issues(min_confidence=min_confidence)) == expected


def test_ties_rank_by_position() -> None:
    # t_0 = .6: rows 0, 2, 7 (label 1, p_no .8) are candidates with the same
    # self-confidence .2; the cap floor(.25 * 8) = 2 keeps the first two.
    out = issues(
        max_flag_fraction=0.25,
        labels=np.array([1, 1, 1, 0, 0, 0, 0, 1]),
        p_yes=np.array([0.2, 0.9, 0.2, 0.4, 0.4, 0.4, 0.4, 0.2]),
    )
    assert np.flatnonzero(out["candidate"]).tolist() == [0, 2, 7]
    assert flagged_positions(out) == [0, 2]


@pytest.mark.parametrize("present", [0, 1])
def test_single_class_flags_nothing(present: int) -> None:
    labels = np.full(4, present)
    out = issues(labels=labels, p_yes=np.array([0.01, 0.99, 0.5, 0.2]))
    assert not out["flagged"].any()
    assert not out["candidate"].any()
    assert all(math.isnan(t) for t in out["threshold"])


def test_accepts_bool_and_integral_float_labels() -> None:
    ref = flagged_positions(issues())
    assert flagged_positions(issues(labels=LABELS.astype(bool))) == ref
    assert flagged_positions(issues(labels=LABELS.astype(float))) == ref
    assert flagged_positions(issues(labels=pd.Series(LABELS, dtype="int8"))) == ref


@pytest.mark.parametrize(
    ("labels", "p_yes", "message"),
    [
        (LABELS.reshape(2, 5), P_YES, r"labels: expected shape \(n,\), got shape \(2, 5\)"),
        (
            LABELS,
            np.stack([1 - P_YES, P_YES], axis=1),
            r"p_yes: expected shape \(n,\) \(one p\(yes\) per row\), got shape \(10, 2\)",
        ),
        (LABELS[:9], P_YES, "expected the same length, got 9 labels and 10 probabilities"),
        (LABELS[:0], P_YES[:0], "expected at least one row, got 0"),
        (
            np.array([1, 0, 2, 1, 0, -1, 1, 0, 1, 0]),
            P_YES,
            r"labels: expected values in \{0, 1\}, got \[-1, 2\] in 2 row\(s\) "
            r"\(first positions \[2, 5\]\)",
        ),
        (np.array(["1", "0"] * 5), P_YES, "labels: expected integer 0/1, got dtype <U1"),
        (
            np.array([1.0, np.nan] * 5),
            P_YES,
            r"labels: expected 0 or 1 on every row, got NaN in 5 row\(s\)",
        ),
        (
            LABELS,
            np.where(np.arange(10) == 3, np.nan, P_YES),
            r"p_yes: expected floats in \[0, 1\], got NaN in 1 row\(s\) \(first positions \[3\]\)",
        ),
        (
            LABELS,
            np.where(np.arange(10) == 7, 1.5, P_YES),
            r"got 1 value\(s\) outside, e.g. \[1.5\] \(first positions \[7\]\)",
        ),
        (LABELS, np.array(["0.5"] * 10), "p_yes: expected floats in \\[0, 1\\], got dtype <U3"),
    ],
)
def test_validation_messages(labels, p_yes, message) -> None:
    with pytest.raises(ValueError, match=message):
        find_label_issues(labels=labels, p_yes=p_yes, max_flag_fraction=0.1, min_confidence=0.5)


def test_knob_ranges() -> None:
    with pytest.raises(ValueError, match=r"max_flag_fraction: expected a value in \[0, 1\]"):
        issues(max_flag_fraction=1.5)
    with pytest.raises(ValueError, match=r"min_confidence: expected a value in \[0, 1\]"):
        issues(min_confidence=-0.1)
    with pytest.raises(TypeError):
        find_label_issues(LABELS, P_YES, 0.1, 0.5)  # type: ignore[misc]  # keyword-only


# --- configs ---


def test_configs(tmp_path) -> None:
    assert SelfValParams() == SelfValParams(True, "oof", 2, 0.1, 0.8)
    assert FilterParams().action == "remove"
    path = tmp_path / "params.yaml"
    path.write_text(
        "selfval:\n  mode: in-sample\n  folds: 1\n  max_flag_fraction: 0\nfilter:\n"
        "  action: relabel\n"
    )
    assert load_section(SelfValParams, "selfval", path).max_flag_fraction == 0.0
    assert load_section(FilterParams, "filter", path).action == "relabel"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"mode": "cv"}, "params.yaml:selfval.mode: expected one of 'oof', 'in-sample', got 'cv'"),
        ({"folds": 1}, "params.yaml:selfval: folds must be >= 2 in oof mode"),
        ({"max_flag_fraction": 2}, "params.yaml:selfval: max_flag_fraction must be in [0, 1]"),
        ({"min_confidence": 1.1}, "params.yaml:selfval: min_confidence must be in [0, 1]"),
        ({"enabled": "yes"}, "params.yaml:selfval.enabled: expected bool"),
        ({"min_confidense": 0.9}, "params.yaml:selfval: unknown key(s) min_confidense"),
    ],
)
def test_selfval_config_errors(raw, message) -> None:
    with pytest.raises(ConfigError) as err:
        parse_section(SelfValParams, raw, name="selfval")
    assert message in str(err.value)


def test_filter_config_error(tmp_path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text("filter:\n  action: drop\n")
    with pytest.raises(
        ConfigError, match=r"other\.yaml:filter\.action: expected one of 'remove', 'relabel'"
    ):
        load_section(FilterParams, "filter", path)


# --- oof_plan ---


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_oof_plan_scores_every_row_once_by_an_unseen_model(folds: int) -> None:
    split = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 0], dtype=np.int8)
    plan = oof_plan(split, mode="oof", folds=folds, key="selfval.folds")
    assert len(plan) == folds
    scored = np.concatenate([score for _, score in plan])
    assert sorted(scored.tolist()) == list(range(len(split)))  # every row exactly once
    for train, score in plan:
        assert len(train) > 0 and len(score) > 0
        assert not set(train.tolist()) & set(score.tolist())  # never scored by its trainer
        assert sorted([*train.tolist(), *score.tolist()]) == list(range(len(split)))
        # Whole split folds move together: a group never straddles train and score.
        assert not set(split[train].tolist()) & set(split[score].tolist())
    # split fold f -> filter fold f % folds
    for g, (_, score) in enumerate(plan):
        assert set((split[score] % folds).tolist()) == {g}


def test_in_sample_plan() -> None:
    split = np.array([0, 1, 0, 1])
    [(train, score)] = oof_plan(split, mode="in-sample", folds=2, key="selfval.folds")
    assert train.tolist() == score.tolist() == [0, 1, 2, 3]


def test_oof_plan_errors() -> None:
    def plan(split: list[int] | np.ndarray, **kw):
        return oof_plan(
            np.asarray(split), **{"mode": "oof", "folds": 2, "key": "selfval.folds", **kw}
        )

    with pytest.raises(DataError, match=r"fold\(s\) \[1\] are empty"):
        plan([0, 0, 2, 2])
    with pytest.raises(DataError, match=r"fold ids >= 0, got -1 \(1 row\(s\) without a fold\)"):
        plan([0, 1, -1])
    with pytest.raises(ConfigError, match=r"^selfval.folds=3 exceeds the 2 split folds"):
        plan([0, 1, 0, 1], folds=3)
    with pytest.raises(ConfigError, match=r"^selfval.folds must be >= 2 in oof mode, got 1"):
        plan([0, 1], folds=1)
    with pytest.raises(ValueError, match=r"mode: expected one of oof, in-sample, got 'kfold'"):
        plan([0, 1], mode="kfold")
    with pytest.raises(DataError, match="expected integer fold ids, got dtype float64"):
        plan([0.0, 1.0])


def test_oof_plan_names_the_key_of_its_caller() -> None:
    with pytest.raises(ConfigError, match=r"^cv.folds=3 exceeds the 2 split folds") as err:
        oof_plan(np.array([0, 1, 0, 1]), mode="oof", folds=3, key="cv.folds")
    assert "selfval" not in str(err.value)


# --- apply_filter ---


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {"id": range(100, 110), "lang": LANG, "label": LABELS.astype(np.int8)},
        index=range(50, 60),  # not a RangeIndex from 0: the output gets a fresh one
    )


def _flags(**kw) -> pd.DataFrame:
    """The flagged table selfval writes for ``_rows()`` (rows 3 (fr), 4 (en), 9 (fr))."""
    rows = _rows()
    return flagged_rows(rows, P_YES, issues(**kw))


def test_flagged_rows_carry_the_evidence() -> None:
    flags = _flags()
    assert flags["id"].tolist() == [103, 104, 109]
    assert flags["reason"].tolist() == [
        "label_1_model_says_no",
        "label_1_model_says_no",
        "label_0_model_says_yes",
    ]
    assert flags["p_yes"].tolist() == [0.3, 0.1, 0.85]
    assert flags["self_confidence"].tolist() == pytest.approx([0.3, 0.1, 0.15])
    assert flags["threshold"].tolist() == pytest.approx([0.5625, 0.5625, 0.625])


def test_apply_filter_remove() -> None:
    out, counts = apply_filter(_rows(), _flags(), action="remove")
    assert out["id"].tolist() == [100, 101, 102, 105, 106, 107, 108]
    assert out.index.tolist() == list(range(7))
    assert "relabelled" not in out.columns
    assert counts == {
        "rows_in": 10,
        "flagged": 3,
        "removed": 3,
        "relabelled": 0,
        "rows_out": 7,
        "positive_in": 6,
        "positive_out": 4,
        "by_reason": {"label_1_model_says_no": 2, "label_0_model_says_yes": 1},
        "by_language": {
            "en": {"rows_in": 5, "flagged": 1, "removed": 1, "relabelled": 0, "rows_out": 4},
            "fr": {"rows_in": 5, "flagged": 2, "removed": 2, "relabelled": 0, "rows_out": 3},
        },
    }
    json.dumps(counts)


def test_apply_filter_relabel() -> None:
    rows = _rows()
    out, counts = apply_filter(rows, _flags(), action="relabel")
    assert len(out) == 10
    assert out["label"].dtype == rows["label"].dtype
    assert out["label"].tolist() == [1, 1, 1, 0, 0, 1, 0, 0, 0, 1]
    assert out["relabelled"].tolist() == [i in (3, 4, 9) for i in range(10)]
    assert rows["label"].tolist() == LABELS.tolist()  # input untouched
    assert counts["rows_out"] == counts["rows_in"] == 10
    assert (counts["relabelled"], counts["removed"]) == (3, 0)
    assert (counts["positive_in"], counts["positive_out"]) == (6, 5)  # -2 +1
    for lang, block in counts["by_language"].items():
        assert block["rows_out"] == block["rows_in"] == 5, lang
    assert sum(b["relabelled"] for b in counts["by_language"].values()) == 3


@pytest.mark.parametrize("action", ["remove", "relabel"])
def test_apply_filter_counts_reconcile(action: str) -> None:
    out, counts = apply_filter(_rows(), _flags(max_flag_fraction=0.2), action=action)  # 4, 9
    assert counts["rows_out"] == len(out) == counts["rows_in"] - counts["removed"]
    assert counts["flagged"] == counts["removed"] + counts["relabelled"] == 2
    assert sum(counts["by_reason"].values()) == counts["flagged"]
    by_lang = counts["by_language"].values()
    for key in ("rows_in", "flagged", "removed", "relabelled", "rows_out"):
        assert sum(b[key] for b in by_lang) == counts[key], key


def test_apply_filter_errors() -> None:
    rows, flags = _rows(), _flags()
    with pytest.raises(ValueError, match=r"action: expected one of remove, relabel, got 'drop'"):
        apply_filter(rows, flags, action="drop")
    with pytest.raises(DataError, match=r"flagged rows: missing columns \['reason'\]"):
        apply_filter(rows, flags[["id"]], action="remove")
    with pytest.raises(DataError, match=r"filter rows: missing columns \['lang'\]"):
        apply_filter(rows.drop(columns="lang"), flags, action="remove")
    stray = flags.assign(id=[103, 104, 999])
    with pytest.raises(
        DataError, match=r"^f.parquet: 1 flagged id\(s\) are not among the 10 training rows "
        r"\(first 999\)",
    ):  # fmt: skip
        apply_filter(rows, stray, action="remove", source="f.parquet")
    with pytest.raises(
        DataError, match=r"expected each id once, got 1 flagged again \(first 103\)"
    ):
        apply_filter(rows, pd.concat([flags, flags.iloc[:1]]), action="remove")
    unknown_reason = flags.assign(reason=["label_1_model_says_no", "label_1_model_says_no", "x"])
    with pytest.raises(DataError, match=r"expected reasons in .*, got \['x'\] on 1 row"):
        apply_filter(rows, unknown_reason, action="remove")
