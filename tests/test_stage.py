"""What every stage script shares (relevance.stage): run statistics kept apart from the
committed metrics."""

from __future__ import annotations

import json

from relevance.stage import run_stats_path, split_run_stats, write_metrics


def test_run_statistics_leave_the_metrics_at_any_depth() -> None:
    metrics = {
        "rows": 10,
        "seconds": 3.2,
        "dev": {"rows": 4, "pairs_per_second": 81.0, "mean_p_yes": 0.61},
        "cache": {"distinct_texts": 48, "hits": 40, "misses": 8, "hit_rate": 0.83,
                  "translate_seconds": 1.5, "texts_per_second": 5.3},
        "resumed_from": "checkpoint-4",
        "seconds_per_step": 5.1,
        "per_language": {"de": {"rows": 2}},
    }  # fmt: skip
    results, run = split_run_stats(metrics)
    assert results == {
        "rows": 10,
        "dev": {"rows": 4, "mean_p_yes": 0.61},
        "cache": {"distinct_texts": 48},
        "per_language": {"de": {"rows": 2}},
    }
    assert run == {
        "seconds": 3.2,
        "dev": {"pairs_per_second": 81.0},
        "cache": {"hits": 40, "misses": 8, "hit_rate": 0.83, "translate_seconds": 1.5,
                  "texts_per_second": 5.3},
        "resumed_from": "checkpoint-4",
        "seconds_per_step": 5.1,
    }  # fmt: skip
    assert split_run_stats({"rows": 1}) == ({"rows": 1}, None)
    # Per-model entries in a list (self-validation's filter models).
    models = {"filter_models": [{"rows": 5, "train_seconds": 3.0}, {"rows": 6}]}
    assert split_run_stats(models) == (
        {"filter_models": [{"rows": 5}, {"rows": 6}]},
        {"filter_models": [{"train_seconds": 3.0}, None]},
    )
    assert split_run_stats({"langs": ["de", "fr"]}) == ({"langs": ["de", "fr"]}, None)


def test_write_metrics_puts_run_statistics_beside_the_file(tmp_path) -> None:
    path = tmp_path / "metrics" / "predict_qc.json"
    write_metrics(path, {"dev": {"rows": 4, "pairs_per_second": 80.0}})
    assert json.loads(path.read_text()) == {"dev": {"rows": 4}}
    assert run_stats_path(path) == tmp_path / "metrics" / "predict_qc.run.json"
    assert json.loads(run_stats_path(path).read_text()) == {"dev": {"pairs_per_second": 80.0}}
    first = path.read_bytes()
    write_metrics(path, {"dev": {"rows": 4, "pairs_per_second": 95.0}})  # another run
    assert path.read_bytes() == first  # the committed file does not change
