"""F1, threshold sweep and per-language metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relevance.evaluate.metrics import (
    auc,
    average_ranks,
    best_threshold,
    binary_scores,
    evaluate_predictions,
    threshold_sweep,
)

LABELS = np.array([1, 1, 1, 0, 0, 1])
P_YES = np.array([0.9, 0.6, 0.3, 0.5, 0.1, 0.2])


def test_binary_scores_by_hand() -> None:
    # threshold 0.4 -> predictions 1,1,0,1,0,0: tp 2, fp 1, fn 2 -> P 2/3, R 1/2, F1 4/7.
    s = binary_scores(LABELS, P_YES >= 0.4)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (2, 1, 2, 1)
    assert s["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert s["recall"] == pytest.approx(0.5)
    assert s["f1"] == pytest.approx(4 / 7, abs=1e-6)


def test_no_positive_prediction_gives_zero_not_nan() -> None:
    s = binary_scores(np.array([1, 0]), np.array([0, 0]))
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)


def test_auc_and_f1_equal_scikit_learns_with_ties_and_imbalance() -> None:
    """The numpy rank-sum AUC and count-based F1 against scikit-learn on scores with many
    ties (rounded p(yes)), a skewed label mix and the degenerate cases."""
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    rng = np.random.default_rng(0)
    for trial in range(50):
        n = int(rng.integers(2, 300))
        labels = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(int)
        labels[0], labels[-1] = 0, 1
        scores = np.round(rng.random(n) * 0.5 + labels * rng.uniform(0, 0.5), trial % 4)
        assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)
        predictions = scores >= 0.4
        s = binary_scores(labels, predictions)
        kw = {"zero_division": 0}
        assert s["f1"] == pytest.approx(f1_score(labels, predictions, **kw), abs=1e-6)
        assert s["precision"] == pytest.approx(precision_score(labels, predictions, **kw), abs=1e-6)
        assert s["recall"] == pytest.approx(recall_score(labels, predictions, **kw), abs=1e-6)
    assert auc(np.array([1, 1]), np.array([0.2, 0.3])) is None
    assert auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
    # As scikit-learn did, bad input is an error, not a number.
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        binary_scores(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="scores must be finite"):
        auc(np.array([0, 1]), np.array([0.1, np.nan]))


def test_sweep_and_best_threshold_by_hand() -> None:
    sweep = threshold_sweep(LABELS, P_YES)
    assert sweep["threshold"].iloc[0] == 0.05 and sweep["threshold"].iloc[-1] == 0.95
    assert len(sweep) == 19
    # At 0.15: predictions 1,1,1,1,0,1 -> tp 4, fp 1, fn 0 -> F1 8/9 (the best).
    row = sweep[sweep["threshold"] == 0.15].iloc[0]
    assert row["f1"] == pytest.approx(8 / 9, abs=1e-6)
    # At 0.95 nothing is predicted positive.
    assert sweep["f1"].iloc[-1] == 0.0
    best = best_threshold(sweep)
    assert best["threshold"] == 0.15 and best["f1"] == pytest.approx(8 / 9, abs=1e-6)
    assert best["tied"] == int((sweep["f1"] == sweep["f1"].max()).sum())


def test_on_a_flat_curve_best_is_the_tied_threshold_nearest_the_task_threshold() -> None:
    """All-positive scores: F1 is the same at every threshold up to the lowest score."""
    labels, p_yes = np.array([1, 1, 0, 1]), np.array([0.91, 0.92, 0.93, 0.94])
    sweep = threshold_sweep(labels, p_yes)
    assert best_threshold(sweep)["threshold"] == 0.05  # no preference: the lowest
    best = best_threshold(sweep, prefer=0.4)
    assert best == {"threshold": 0.4, "f1": pytest.approx(6 / 7, abs=1e-6), "tied": 18}
    # A strictly better threshold still wins over the preferred one.
    sweep.loc[sweep["threshold"] == 0.7, "f1"] = 0.9
    assert best_threshold(sweep, prefer=0.4)["threshold"] == 0.7


def test_evaluate_per_language_and_baselines() -> None:
    frame = pd.DataFrame(
        {
            "language": ["en", "en", "de", "de", "de", "vn"],
            "p_yes": P_YES,
            "label": pd.array([1, 1, 1, 0, 0, None], dtype="Int8"),
        }
    )
    result = evaluate_predictions(frame, threshold=0.4)
    assert (result["rows"], result["labelled"]) == (6, 5)
    # Labelled: labels 1,1,1,0,0, scores .9,.6,.3,.5,.1 -> preds 1,1,0,1,0: F1 = 2/3.
    assert result["f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert result["all_positive_f1"] == pytest.approx(0.75)  # P 3/5, R 1
    assert result["auc"] == pytest.approx(5 / 6, abs=1e-6)  # 5 of 6 (pos, neg) pairs ordered
    assert set(result["per_language"]) == {"en", "de"}  # vn has no label
    assert result["per_language"]["en"]["auc"] is None  # one class only: undefined
    assert result["per_language"]["de"]["f1"] == 0.0


def test_unlabelled_predictions_give_counts_only() -> None:
    frame = pd.DataFrame(
        {"language": ["de"], "p_yes": [0.5], "label": pd.array([None], dtype="Int8")}
    )
    assert evaluate_predictions(frame, threshold=0.4) == {
        "threshold": 0.4,
        "rows": 1,
        "labelled": 0,
        "note": "no labels: F1, AUC and the threshold sweep need labelled rows",
    }
