"""Fold ensembles at predict time: weighted soft voting on hand-written p(yes) arrays, and
predict_ensemble on two tiny models (in-memory rows, no network)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_lm import build_tiny_lm, toy_rows

from relevance.errors import ConfigError, DataError
from relevance.model.inputs import InputParams
from relevance.model.predict import (
    PredictParams,
    average_p_yes,
    ensemble_weights,
    predict_ensemble,
    predict_task,
    scorer_for,
)
from relevance.schema import TASKS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

A = np.array([0.0, 0.2, 0.5, 0.9, 1.0])
B = np.array([1.0, 0.6, 0.5, 0.1, 0.0])
C = np.array([0.5, 0.5, 0.5, 0.5, 0.5])


# ------------------------------------------------------------------ pure math


def test_equal_weights_give_the_plain_mean() -> None:
    np.testing.assert_allclose(average_p_yes([A, B]), [0.5, 0.4, 0.5, 0.5, 0.5], atol=1e-15)
    np.testing.assert_allclose(average_p_yes([A, B, C]), (A + B + C) / 3, atol=1e-15)
    np.testing.assert_array_equal(average_p_yes([A]), A)
    assert average_p_yes([A, B]).dtype == np.float64


def test_weights_are_normalised_ratios() -> None:
    expected = [0.75, 0.5, 0.5, 0.3, 0.25]  # 0.25 * A + 0.75 * B
    np.testing.assert_allclose(average_p_yes([A, B], weights=[1, 3]), expected, atol=1e-15)
    np.testing.assert_allclose(average_p_yes([A, B], weights=[0.5, 1.5]), expected, atol=1e-15)
    # A zero weight drops that member.
    np.testing.assert_allclose(average_p_yes([A, B, C], weights=[2, 0, 2]), (A + C) / 2)
    np.testing.assert_allclose(ensemble_weights(3, [1, 1, 2]), [0.25, 0.25, 0.5])
    np.testing.assert_allclose(ensemble_weights(4), [0.25] * 4)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0], r"expected one per model \(2\), got 1: \[1.0\]"),
        ([1, 2, 3], r"expected one per model \(2\), got 3"),
        ([1.0, -0.5], r"finite and >= 0, got \[1.0, -0.5\]"),
        ([1.0, math.nan], r"finite and >= 0"),
        ([1.0, math.inf], r"finite and >= 0"),
        ([0, 0], r"must not all be 0, got \[0, 0\]"),
        (["a", 1], r"must be numbers"),
    ],
)
def test_bad_weights_are_config_errors(weights, message) -> None:
    with pytest.raises(ConfigError, match=message):
        average_p_yes([A, B], weights=weights)


def test_bad_arrays_are_data_errors() -> None:
    with pytest.raises(ConfigError, match="at least one model"):
        average_p_yes([])
    with pytest.raises(DataError, match=r"same length, got shapes \[\(5,\), \(4,\)\]"):
        average_p_yes([A, B[:4]])
    with pytest.raises(DataError, match="1-D"):
        average_p_yes([A.reshape(5, 1), B.reshape(5, 1)])
    with pytest.raises(DataError, match=r"arrays \[1\] have 2 values outside"):
        average_p_yes([A, np.array([0.1, 1.5, np.nan, 0.2, 0.3])])


# ------------------------------------------------------------- predict_ensemble


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> list[Path]:
    """Two trained-model folders (merged/ only): tiny LMs with different random weights."""
    root = tmp_path_factory.mktemp("members")
    for seed in (1, 2):
        build_tiny_lm(root / f"fold-{seed}" / "merged", seed=seed)
    return [root / "fold-1", root / "fold-2"]


def _split_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, seed in (("dev", 1), ("test", 2)):
        rows = toy_rows(9, seed=seed)
        if split == "test":
            rows["label"] = pd.NA  # unlabelled, as test data is
        rows.to_parquet(folder / f"{split}.parquet")
        files[split] = folder / f"{split}.parquet"
    return files


PARAMS = PredictParams(batch_size=4, device="cpu", dtype="float32")


def test_predict_ensemble_writes_the_weighted_mean_of_its_members(
    members, tiny_lm_dir, tmp_path
) -> None:
    files = _split_files(tmp_path / "in")
    metrics = predict_ensemble(
        task=TASKS["qc"], model_dirs=members, weights=[3, 1], base_model=tiny_lm_dir,
        params=PARAMS, split_files=files, out_dir=tmp_path / "out",
    )  # fmt: skip
    for split, path in files.items():
        rows = pd.read_parquet(path)
        alone = [scorer_for(m, base_model=tiny_lm_dir, params=PARAMS).score(TASKS["qc"], rows)
                 for m in members]  # fmt: skip
        assert np.abs(alone[0] - alone[1]).max() > 1e-3  # the members really differ
        written = pd.read_parquet(tmp_path / "out" / f"{split}.parquet")
        assert written["id"].tolist() == rows["id"].tolist()
        np.testing.assert_allclose(written["p_yes"], 0.75 * alone[0] + 0.25 * alone[1], atol=1e-6)
        assert written["label"].isna().all() == (split == "test")
        assert [m["weight"] for m in metrics[split]["members"]] == [0.75, 0.25]
        assert metrics[split]["rows"] == 9
        # The reported means are those of what was written, and of each member alone.
        assert metrics[split]["mean_p_yes"] == pytest.approx(written["p_yes"].mean(), abs=1e-6)
        per_member = [m["mean_p_yes"] for m in metrics[split]["members"]]
        assert per_member == pytest.approx([a.mean() for a in alone], abs=1e-6)


def test_predict_ensemble_checks_weights_before_loading_any_model(tiny_lm_dir, tmp_path) -> None:
    missing = [tmp_path / "no-such-model", tmp_path / "nor-this"]
    with pytest.raises(ConfigError, match=r"expected one per model \(2\), got 3"):
        predict_ensemble(
            task=TASKS["qc"], model_dirs=missing, weights=[1, 1, 1], base_model=tiny_lm_dir,
            params=PARAMS, split_files={}, out_dir=tmp_path / "out",
        )  # fmt: skip


def test_predict_task_scores_with_the_fold_models_when_ensembling(
    members, tiny_lm_dir, tmp_path
) -> None:
    """The predict@<task> stage logic: cv.ensemble's branch is predict_ensemble over the
    cv@<task> folder's fold-*/ models, with input counts added per split."""
    ingested = tmp_path / "ingested"
    files = _split_files(ingested)
    pivot = tmp_path / "pivot.parquet"
    pd.DataFrame({"split": [], "id": [], "query_en": []}).to_parquet(pivot)
    common = {
        "model_dir": tmp_path / "no-single-model", "base_model": tiny_lm_dir,
        "ingested": ingested, "pivot": pivot, "params": PARAMS, "inputs": InputParams(),
        "cv_models": members[0].parent,
    }  # fmt: skip
    metrics = predict_task(
        TASKS["qc"], out_dir=tmp_path / "out", ensemble_size=2, weights=(3, 1), **common
    )
    direct = predict_ensemble(
        task=TASKS["qc"], model_dirs=members, weights=[3, 1], base_model=tiny_lm_dir,
        params=PARAMS, split_files=files, out_dir=tmp_path / "direct",
    )  # fmt: skip
    for split in files:
        assert metrics[split]["input"] == {"rows": 9, "pivoted": 0, "no_pivot": 0}
        assert metrics[split]["mean_p_yes"] == direct[split]["mean_p_yes"]
        got = (tmp_path / "out" / f"{split}.parquet").read_bytes()
        assert got == (tmp_path / "direct" / f"{split}.parquet").read_bytes()
    with pytest.raises(DataError, match=r"cv.ensemble needs 3 fold models, found 2: run cv@qc"):
        predict_task(TASKS["qc"], out_dir=tmp_path / "again", ensemble_size=3, **common)
    with pytest.raises(DataError, match="no merged/ or adapter/ folder: run train first"):
        predict_task(TASKS["qc"], out_dir=tmp_path / "single", **common)
