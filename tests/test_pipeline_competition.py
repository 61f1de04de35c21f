"""The whole graph on a folder in the competition's own layout (tiny models, real DVC).

train labelled; dev and test without labels and no dev-labels file, as the competition
ships them; in a folder whose name has a space. The files carry what real inputs bring: a
byte-order mark, mixed-case language codes, empty and missing titles, another task's
record, a duplicate id and an over-long record. Every dev and test id must be in the
submissions, once, in input order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from competition_files import write_jsonl
from pipeline_project import DVC, ROOT, make_project, run, stages_ran


def _records(path: Path, *, drop_label: bool = True) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [{k: v for k, v in r.items() if k != "label" or not drop_label} for r in rows]


def _competition_folder(folder: Path) -> dict[str, list]:
    """QI files in the competition layout; returns the ids each split's records carry."""
    sample = ROOT / "data/sample"
    write_jsonl(folder / "train_QI.txt", _records(sample / "train_QI.txt", drop_label=False))
    dev = _records(sample / "dev_QI.txt")
    dev[0]["language"] = dev[0]["language"].upper()  # "PL" beside "pl"
    dev[3]["item_title"] = ""
    del dev[5]["item_title"]
    dev[7]["task"] = "QC"  # answered with the fallback label
    dev.append(dict(dev[10]))  # a duplicate id: answered once
    write_jsonl(folder / "dev_QI.txt", dev)
    (folder / "dev_QI.txt").write_bytes(b"\xef\xbb\xbf" + (folder / "dev_QI.txt").read_bytes())
    test = _records(sample / "test_QI.txt")
    test[2]["item_title"] = None
    test[4]["origin_query"] = "x" * 100_000  # over ingest.max_record_bytes (64 KiB)
    write_jsonl(folder / "test_QI.txt", test)
    return {"dev": [r["id"] for r in dev[:-1]], "test": [r["id"] for r in test]}


@pytest.fixture(scope="module")
def competition_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    data = tmp_path_factory.mktemp("downloads") / "cikm data"
    ids = _competition_folder(data)
    project = make_project(
        tmp_path_factory.mktemp("project"),
        tmp_path_factory.mktemp("models"),
        data={"dir": str(data)},
        tasks=["qi"],
    )
    output = run([*DVC, "repro"], project)
    return project, ids, output


def test_every_dev_and_test_id_is_answered_once_in_input_order(competition_run) -> None:
    project, ids, output = competition_run
    assert {"ingest@qi", "train@qi", "predict@qi", "evaluate@qi", "overall"} <= stages_ran(output)
    for split in ("dev", "test"):
        path = project / f"data/submissions/qi/{split}/submit_QI.txt"
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert [r["id"] for r in lines] == ids[split], split
        assert {r["prediction"] for r in lines} <= {0, 1}
    dev = [json.loads(x) for x in (project / "data/submissions/qi/dev/submit_QI.txt").open()]
    assert dev[0]["language"].isupper()  # the submission keeps the code as given
    assert dev[3]["item_title"] == "" and dev[5]["item_title"] is None


def test_metrics_say_there_are_no_labels_and_count_every_answer(competition_run) -> None:
    project, ids, _ = competition_run
    ingest = json.loads((project / "metrics/ingest_qi.json").read_text())
    assert ingest["dev"]["byte_order_mark"] is True
    assert ingest["dev"]["kept_with_defect"] == {"empty_field": 1, "missing_field": 1}
    assert ingest["dev"]["quarantined_by_reason"] == {"duplicate_id": 1, "wrong_task": 1}
    assert ingest["test"]["kept_with_defect"] == {"missing_field": 1}
    assert ingest["test"]["quarantined_by_reason"] == {"too_long": 1}
    for split in ("train", "dev", "test"):
        m = ingest[split]
        assert m["rows_in"] == m["rows_out"] + m["quarantined"]
    metrics = json.loads((project / "metrics/qi.json").read_text())
    for split in ("dev", "test"):
        assert metrics[split]["labelled"] == 0 and "f1" not in metrics[split]
        assert metrics[split]["note"].startswith("no labels")
        submission = metrics[split]["submission"]
        assert submission["lines"] == len(ids[split])
        assert submission["lines"] == submission["scored"] + submission["fallback"]
    assert metrics["dev"]["submission"]["fallback_by_reason"] == {"wrong_task": 1}
    assert metrics["test"]["submission"]["fallback_by_reason"] == {"too_long": 1}
    overall = json.loads((project / "metrics/overall.json").read_text())
    assert "mean_f1" not in overall and overall["note"].startswith("no task has labelled")
    stats = json.loads((project / "data/stats/qi/languages.json").read_text())
    assert "PL" not in json.dumps(stats)  # one language, lower-cased


def test_a_second_repro_has_nothing_to_do(competition_run) -> None:
    project, _, _ = competition_run
    again = run([*DVC, "repro"], project)
    assert stages_ran(again) == set()
