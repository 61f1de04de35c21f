"""`relevance score`: a file of rows scored with a trained model folder, outside the DVC
graph. A tiny random LM stands in for a trained model (tests/tiny_lm.py); no network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from competition_files import qc_row, write_jsonl
from transformers import AutoTokenizer

from relevance.data.ingest import read_split
from relevance.errors import ConfigError, DataError
from relevance.model.heads import PROMPT_META_FILE, write_prompt_meta
from relevance.model.predict import PredictParams, predict_splits, scorer_for
from relevance.model.prompt import resolve_label_tokens
from relevance.schema import TASKS
from relevance.tools.cli import main as cli
from relevance.tools.score import score_file

ROOT = Path(__file__).resolve().parents[1]


def _model(tiny_lm_dir: Path, root: Path, task: str = "qc") -> Path:
    """models/<task> as train@<task> leaves it with merge: true (merged/ + prompt meta)."""
    merged = shutil.copytree(tiny_lm_dir, root / "models" / task / "merged")
    labels = resolve_label_tokens(AutoTokenizer.from_pretrained(merged))
    write_prompt_meta(merged, task=TASKS[task], labels=labels)
    return merged.parent


def _params(root: Path, **changes) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["predict"].update(dtype="float32", batch_size=4)
    params["ingest"]["max_bad_fraction"] = 0.5
    for section, values in changes.items():
        params[section].update(values)
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _rows(path: Path) -> Path:
    queries = ["coffee cup", "Laufschuhe", "tv stand", "USB-Kabel", "mug", "Tasse"]
    rows = [
        {
            k: v
            for k, v in qc_row(i + 1, "de" if i % 2 else "EN", q, label=None).items()
            if k != "task"
        }
        for i, q in enumerate(queries)
    ]
    rows.insert(3, {"id": 99, "language": "en", "category_path": "home"})  # no query
    return write_jsonl(path, rows)


def test_scores_equal_predict_on_the_same_rows(tiny_lm_dir: Path, tmp_path: Path) -> None:
    model, params = _model(tiny_lm_dir, tmp_path), _params(tmp_path)
    rows_file = _rows(tmp_path / "new.jsonl")
    out = tmp_path / "scored.parquet"
    report = score_file(
        rows_file, model_dir=model, base_model=tmp_path / "unused", out=out, params_path=params
    )
    # Counts reconcile: 7 records, 6 scored, the one without a query quarantined.
    assert (report.records, report.scored, len(report.quarantined)) == (7, 6, 1)
    assert report.quarantined[0]["source_line"] == 4
    assert report.quarantined[0]["reason"] == "missing_field"
    scored = pd.read_parquet(out)
    assert scored["id"].tolist() == [1, 2, 3, 4, 5, 6]  # input order
    assert scored["lang"].tolist() == ["en", "de"] * 3  # language codes lower-cased
    # predict@qc's path: the same file read as dev rows, scored by predict_splits.
    dev = read_split(rows_file, task=TASKS["qc"], split="dev", defaults={"task": "QC"})
    predict_params = PredictParams(dtype="float32", batch_size=4)
    predict_splits(
        task=TASKS["qc"],
        scorer=scorer_for(model, base_model=tmp_path / "unused", params=predict_params),
        split_files={"dev": dev.table().to_pandas()},
        out_dir=tmp_path / "predictions",
    )
    expected = pd.read_parquet(tmp_path / "predictions" / "dev.parquet")
    np.testing.assert_allclose(scored["p_yes"], expected["p_yes"], atol=1e-6)
    assert np.ptp(scored["p_yes"]) > 1e-4  # rows really differ
    assert (scored["prediction"] == (scored["p_yes"] >= 0.4)).all()  # threshold.qc


def test_cli_writes_each_format_and_the_quarantine(tiny_lm_dir: Path, tmp_path: Path) -> None:
    model, params = _model(tiny_lm_dir, tmp_path), _params(tmp_path)
    rows_file = _rows(tmp_path / "new.jsonl")
    for name in ("scored.csv", "scored.jsonl"):
        out = tmp_path / name
        result = CliRunner().invoke(
            cli,
            ["score", str(rows_file), "--model", str(model), "--out", str(out),
             "--params", str(params), "--threshold", "0.99"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "6 of 7 records scored, 0 predicted relevant at threshold 0.99" in result.output
        quarantine = tmp_path / f"{out.stem}.quarantine.jsonl"
        bad = [json.loads(line) for line in quarantine.read_text().splitlines()]
        assert [(b["id"], b["source_line"]) for b in bad] == [(99, 4)]
    first = json.loads((tmp_path / "scored.jsonl").read_text().splitlines()[0])
    assert set(first) == {"id", "language", "lang", "query", "candidate", "p_yes", "prediction"}
    assert pd.read_csv(tmp_path / "scored.csv")["id"].tolist() == [1, 2, 3, 4, 5, 6]


def test_a_model_of_the_other_task_quarantines_every_row(tiny_lm_dir: Path, tmp_path: Path) -> None:
    model, params = _model(tiny_lm_dir, tmp_path, task="qi"), _params(tmp_path)
    rows_file = write_jsonl(tmp_path / "qc.jsonl", [qc_row(i, label=None) for i in (1, 2)])
    with pytest.raises(DataError, match=r"all 2 records are bad; first: .*qc.jsonl:1: wrong_task"):
        score_file(rows_file, model_dir=model, base_model=tmp_path, out=tmp_path / "o.csv",
                   params_path=params)  # fmt: skip


def test_clear_errors_before_anything_is_scored(tiny_lm_dir: Path, tmp_path: Path) -> None:
    model, params = _model(tiny_lm_dir, tmp_path), _params(tmp_path)
    rows_file = _rows(tmp_path / "new.jsonl")
    kwargs = {"model_dir": model, "base_model": tmp_path, "params_path": params}
    with pytest.raises(ConfigError, match=r"o\.xlsx: expected an output file ending in"):
        score_file(rows_file, out=tmp_path / "o.xlsx", **kwargs)
    with pytest.raises(ConfigError, match=r"input\.pivot_en is true"):
        score_file(rows_file, out=tmp_path / "o.csv", **{**kwargs, "params_path": _params(
            tmp_path, input={"pivot_en": True})})  # fmt: skip
    with pytest.raises(DataError, match="expected a trained model folder"):
        score_file(rows_file, out=tmp_path / "o.csv", **{**kwargs, "model_dir": tmp_path})
    meta_file = model / "merged" / PROMPT_META_FILE
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "prompt_version": "alpaca-yn-v0"}))
    with pytest.raises(ConfigError, match=r"prompt version 'alpaca-yn-v0'.*retrain"):
        score_file(rows_file, out=tmp_path / "o.csv", **kwargs)


@pytest.fixture
def stand_in_pivot(monkeypatch) -> list:
    """The pivot code with a stand-in translator: a German query ``q`` gets the English
    ``english <q>``, except "Tasse", whose translation fails the gate. Returns a list
    that gets the rows each pivot pass saw."""
    import contextlib

    from relevance.augment import pivot as pivot_module
    from relevance.augment import translators

    seen = []

    def fake_pivot_rows(rows, **_):
        seen.append(rows)
        english = [
            q if lang == "en" else (None if q == "Tasse" else f"english {q}")
            for q, lang in zip(rows["query"], rows["lang"], strict=True)
        ]
        table = rows.assign(query_en=english, reason=None)
        return pivot_module.PivotRows(table, {"total": {"rows": len(rows)}})

    monkeypatch.setattr(pivot_module, "pivot_rows", fake_pivot_rows)
    tools = type("Tools", (), {"parts": lambda self: {}})()
    monkeypatch.setattr(translators, "open_translation", lambda _: contextlib.nullcontext(tools))
    return seen


def test_a_pivot_en_model_scores_the_english_pivots(
    tiny_lm_dir: Path, tmp_path: Path, stand_in_pivot: list
) -> None:
    """input.pivot_en: the queries are translated (split "score") and the model reads
    what predict@<task> would give it: here the English alone (pivot_mode replace)."""
    from relevance.augment.translators import TranslationSetup, TranslatorParams

    model = _model(tiny_lm_dir, tmp_path)
    params = _params(tmp_path, input={"pivot_en": True, "pivot_mode": "replace"})
    setup = TranslationSetup(TranslatorParams(), tmp_path, tmp_path)
    out = tmp_path / "scored.parquet"
    report = score_file(_rows(tmp_path / "new.jsonl"), model_dir=model, base_model=tmp_path,
                        out=out, params_path=params, translation=setup)  # fmt: skip
    assert set(stand_in_pivot[0]["split"]) == {"score"} and len(stand_in_pivot[0]) == 6
    # Laufschuhe, USB-Kabel: English; Tasse failed the gate and keeps its text.
    assert report.pivot == {"rows": 6, "pivoted": 2, "no_pivot": 1}
    scored = pd.read_parquet(out)
    assert scored["query"].tolist() == [
        "coffee cup", "english Laufschuhe", "tv stand", "english USB-Kabel", "mug", "Tasse"
    ]  # fmt: skip
    # The same scores as the English rows scored by a model without the pivot.
    english = tmp_path / "english.jsonl"
    rows = [json.loads(line) for line in (tmp_path / "new.jsonl").read_text().splitlines()]
    for row in rows:
        if row.get("origin_query") in ("Laufschuhe", "USB-Kabel"):
            row["origin_query"] = f"english {row['origin_query']}"
    write_jsonl(english, rows)
    plain, plain_params = tmp_path / "plain.parquet", tmp_path / "plain"
    plain_params.mkdir()
    score_file(english, model_dir=model, base_model=tmp_path, out=plain,
               params_path=_params(plain_params, input={"pivot_en": False}))  # fmt: skip
    np.testing.assert_allclose(scored["p_yes"], pd.read_parquet(plain)["p_yes"], atol=1e-6)


def test_a_bad_threshold_stops_before_anything_is_translated(
    tiny_lm_dir: Path, tmp_path: Path, stand_in_pivot: list
) -> None:
    from relevance.augment.translators import TranslationSetup, TranslatorParams

    model, params = _model(tiny_lm_dir, tmp_path), _params(tmp_path, input={"pivot_en": True})
    setup = TranslationSetup(TranslatorParams(), tmp_path, tmp_path)
    with pytest.raises(ConfigError, match=r"threshold: expected a value in \(0, 1\), got 1\.5"):
        score_file(_rows(tmp_path / "new.jsonl"), model_dir=model, base_model=tmp_path,
                   out=tmp_path / "o.csv", params_path=params, threshold=1.5,
                   translation=setup)  # fmt: skip
    assert stand_in_pivot == []


def test_cli_translates_for_a_pivot_en_model(
    tiny_lm_dir: Path, tmp_path: Path, stand_in_pivot: list
) -> None:
    model = _model(tiny_lm_dir, tmp_path)
    params = _params(tmp_path, input={"pivot_en": True})
    out = tmp_path / "scored.csv"
    result = CliRunner().invoke(
        cli, ["score", str(_rows(tmp_path / "new.jsonl")), "--model", str(model),
              "--out", str(out), "--params", str(params), "--translator", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 queries read with their English, 1 kept their text" in result.output
    assert pd.read_csv(out)["query"].tolist()[1] == "Laufschuhe - english Laufschuhe"  # append
