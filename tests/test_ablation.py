"""The ablation table from `dvc exp show --json`-shaped data (hand-written)."""

from __future__ import annotations

import pytest

from relevance.errors import DataError
from relevance.tools.ablation import (
    BASELINE,
    CONFIGS,
    ablation_markdown,
    collect,
    experiment_name,
    parse_name,
    seed_overrides,
    set_arguments,
)


def _metrics(f1: float, best: float, de: float, auc: float = 0.6) -> dict:
    return {"dev": {"f1": f1, "best": {"f1": best, "threshold": 0.3}, "auc": auc,
                    "per_language": {"de": {"f1": de, "auc": auc - 0.1}}}}  # fmt: skip


def _exp(name: str, qc: dict, stamp: str = "2026-11-22T07:10:00") -> dict:
    return {"rev": f"rev-{name}", "name": name,
            "data": {"params": {}, "timestamp": stamp,
                     "metrics": {"metrics/qc.json": {"data": qc}}}}  # fmt: skip


EXP_SHOW = [
    {
        "rev": "workspace", "name": None,
        "data": {"metrics": {"metrics/qc.json": {"data": _metrics(0.1, 0.1, 0.1)}}},
    },
    {
        "rev": "abc", "name": "main",
        "data": {"metrics": {"metrics/qc.json": {"data": _metrics(0.2, 0.2, 0.2)}}},
        "experiments": [
            {"revs": [_exp(BASELINE, _metrics(0.70, 0.75, 0.60, auc=0.55))]},
            {"revs": [_exp("translation", _metrics(0.72, 0.74, 0.66, auc=0.58))]},
            {"revs": [_exp("not-an-ablation", _metrics(0.99, 0.99, 0.99))]},
        ],
    },
    {
        # An older commit's ablation (other code): never mixed into the newer one.
        "rev": "old", "name": None,
        "data": {"metrics": {}},
        "experiments": [
            {"revs": [_exp(BASELINE, _metrics(0.1, 0.1, 0.1), "2026-11-20T07:00:00")]},
            {"revs": [_exp("pivot-en", _metrics(0.2, 0.2, 0.2), "2026-11-20T08:00:00")]},
        ],
    },
]  # fmt: skip


def test_collect_takes_the_named_experiments_of_the_latest_ablation_commit() -> None:
    commit, found = collect(EXP_SHOW, tasks=("qc",))
    assert commit == "abc"
    assert set(found) == {BASELINE, "translation"}
    assert found["translation"]["qc"]["dev"]["f1"] == 0.72
    newer = [{**EXP_SHOW[2], "experiments": [{"revs": [_exp(BASELINE, _metrics(
        0.3, 0.3, 0.3), "2026-11-23T07:00:00")]}]}, EXP_SHOW[1]]  # fmt: skip
    commit, found = collect(newer, tasks=("qc",))
    assert (commit, set(found)) == ("old", {BASELINE})


def test_collect_leaves_out_experiments_the_queue_has_not_finished() -> None:
    """A running experiment shows its baseline's metrics for the stages it has not
    reached: never averaged in as if they were its own."""
    running = {**_exp("translation-seed14", _metrics(0.2, 0.2, 0.2)),
               "name": "translation-seed14"}  # fmt: skip
    show = [{**EXP_SHOW[1], "experiments": [
        *EXP_SHOW[1]["experiments"],
        {"executor": {"state": "running"}, "name": "translation-seed14", "revs": [running]},
        {"executor": {"state": "success"}, "name": "pivot-en-seed13",
         "revs": [_exp("pivot-en-seed13", _metrics(0.9, 0.9, 0.9))]},
    ]}]  # fmt: skip
    _, found = collect(show, tasks=("qc",))
    assert set(found) == {BASELINE, "translation", "pivot-en-seed13"}


def test_table_has_values_and_deltas_against_original_sft() -> None:
    commit, results = collect(EXP_SHOW, tasks=("qc",))
    text = ablation_markdown(results, ("qc",), commit=commit)
    assert "commit `abc`" in text
    row = next(line for line in text.splitlines() if line.startswith("| `translation` |"))
    assert "0.7200 (+0.0200)" in row  # F1 at the task threshold
    assert "0.7400 (-0.0100)" in row  # best-threshold F1
    assert "0.5800 (+0.0300)" in row  # AUC
    de_rows = [line for line in text.splitlines() if line.startswith("| `translation` | 0.6600")]
    assert de_rows == ["| `translation` | 0.6600 (+0.0600) |"]


def test_seeds_are_averaged_and_their_spread_shown() -> None:
    results = {
        experiment_name(BASELINE, 13): {"qc": _metrics(0.70, 0.75, 0.60, auc=0.50)},
        experiment_name(BASELINE, 14): {"qc": _metrics(0.72, 0.75, 0.62, auc=0.54)},
        experiment_name("translation", 14): {"qc": _metrics(0.80, 0.80, 0.70, auc=0.64)},
        experiment_name("translation", 13): {"qc": _metrics(0.76, 0.80, 0.66, auc=0.60)},
    }
    text = ablation_markdown(results, ("qc",))
    row = next(line for line in text.splitlines() if line.startswith("| `translation` |"))
    assert "| 13, 14 |" in row
    assert "0.7800 ±0.0200 (+0.0700)" in row  # F1: mean of 0.76 and 0.80 against 0.71
    assert "0.6200 ±0.0200 (+0.1000)" in row  # AUC: mean of 0.60 and 0.64 against 0.52
    de = [line for line in text.splitlines() if line.startswith("| `translation` | 0.")]
    # F1 per language, then ROC AUC per language (0.50 and 0.54 against 0.40 and 0.44).
    assert de == [
        "| `translation` | 0.6800 ±0.0200 (+0.0700) |",
        "| `translation` | 0.5200 ±0.0200 (+0.1000) |",
    ]
    assert "## QC: ROC AUC per language" in text


def test_experiment_names_carry_the_seed() -> None:
    assert parse_name(experiment_name("pivot-en", 14)) == ("pivot-en", 14)
    assert parse_name("pivot-en") == ("pivot-en", None)
    assert parse_name("pivot-en-seedx") is None
    assert parse_name("other-seed13") is None
    assert seed_overrides(14, ("qc", "qi")) == {"train.qc.seed": 14, "train.qi.seed": 14}


def test_no_experiments_is_an_error_that_says_what_to_run() -> None:
    with pytest.raises(DataError, match="make ablation"):
        ablation_markdown({}, ("qc",))


def test_every_configuration_is_a_set_of_valid_overrides() -> None:
    assert set_arguments({"augment.translate": False, "cv.folds": 3}) == [
        "-S", "augment.translate=false", "-S", "cv.folds=3",
    ]  # fmt: skip
    assert CONFIGS[BASELINE] == {
        "augment.translate": False, "augment.negatives": False, "selfval.enabled": False,
    }  # fmt: skip
    from relevance.check_params import valid_keys

    valid = set(valid_keys())
    for name, overrides in CONFIGS.items():
        assert set(overrides) <= valid, (name, sorted(set(overrides) - valid))
    assert CONFIGS["encoder-backbone"]["train.qi.method"] == "full"


def _scripted_dvc(monkeypatch, statuses: list[str]) -> list[tuple[str, ...]]:
    """Replace the CLI's dvc calls: `queue status` answers from ``statuses`` in turn."""
    import relevance.tools.cli

    calls: list[tuple[str, ...]] = []

    def fake(*args: str) -> str:
        calls.append(args)
        return statuses.pop(0) if args[:2] == ("queue", "status") else ""

    monkeypatch.setattr(relevance.tools.cli, "_dvc", fake)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    return calls


def test_queue_restarts_a_worker_that_stopped_with_tasks_queued(monkeypatch) -> None:
    from click.testing import CliRunner

    from relevance.tools.cli import main

    calls = _scripted_dvc(
        monkeypatch,
        [
            "a Success\nb Queued\n\nWorker status: 0 active, 0 idle\n",
            "a Success\nb Running\n\nWorker status: 1 active, 0 idle\n",
            "a Success\nb Success\n\nWorker status: 0 active, 0 idle\n",
        ],
    )
    result = CliRunner().invoke(
        main, ["ablation", "queue", "--only", BASELINE, "--set", "tasks=[qc]"]
    )
    assert result.exit_code == 0, result.output
    assert "restarting" in result.output
    starts = [c for c in calls if c[:2] == ("queue", "start")]
    assert len(starts) == 2
    assert calls[0] == ("queue", "remove", "--success", "--failed")
    queued = [c for c in calls if c[:3] == ("exp", "run", "--queue")]
    assert [c[4] for c in queued] == [f"{BASELINE}-seed13", f"{BASELINE}-seed14"]
    assert "train.qc.seed=14" in queued[1]
    assert queued[1][-2:] == ("-S", "tasks=[qc]")


def test_queue_fails_when_an_experiment_failed(monkeypatch) -> None:
    from click.testing import CliRunner

    from relevance.tools.cli import main

    _scripted_dvc(monkeypatch, ["a Failed\n\nWorker status: 0 active, 0 idle\n"])
    result = CliRunner().invoke(main, ["ablation", "queue", "--only", BASELINE])
    assert result.exit_code != 0
    assert "dvc queue logs" in result.output
