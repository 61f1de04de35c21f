"""Ingestion: every bad-input kind, counts that reconcile, formats, labels files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from competition_files import qc_row, qi_row, small_qc_dir, write_jsonl

from relevance.data.ingest import DataParams, ingest_task, read_split
from relevance.errors import DataError
from relevance.schema import TASKS

QC, QI = TASKS["qc"], TASKS["qi"]


def _one_bad(tmp_path: Path, bad: object, task=QC, split: str = "train") -> dict:
    """A file with one good row then one bad line: the bad one's quarantine entry."""
    good = qc_row(1) if task is QC else qi_row(1)
    path = write_jsonl(tmp_path / "f.txt", [good, bad])
    result = read_split(path, task=task, split=split)
    assert result.rows_in == 2
    assert len(result.rows) == 1 and len(result.quarantine) == 1
    (entry,) = result.quarantine
    assert entry["source_line"] == 2 and entry["source_file"] == str(path)
    return entry


@pytest.mark.parametrize(
    ("bad", "reason", "detail"),
    [
        ('{"id": 2, "task": "QC", ', "malformed_json", "Expecting"),
        ("[1, 2]", "malformed_json", "expected a JSON object, got list"),
        (qc_row(2, query=""), "empty_field", "'origin_query' is empty"),
        (qc_row(2, query="   "), "empty_field", "'origin_query' is empty"),
        (
            {k: v for k, v in qc_row(2).items() if k != "category_path"},
            "missing_field",
            "'category_path' is missing",
        ),
        (
            {k: v for k, v in qc_row(2).items() if k != "label"},
            "missing_field",
            "'label' is missing",
        ),
        (qc_row(2, path=None), "missing_field", "'category_path' is missing"),
        (qc_row(2, label=2), "bad_label", "expected 0 or 1, got 2"),
        (qc_row(2, label="yes"), "bad_label", "expected 0 or 1, got 'yes'"),
        (qc_row(2, label=True), "bad_label", "expected 0 or 1, got True"),
        (qc_row(1), "duplicate_id", "id 1 already used at line 1"),
        (qc_row(2, task="QI"), "wrong_task", "expected task 'QC', got 'QI'"),
        (qc_row(2, language="english!"), "bad_language", "got 'english!'"),
        (qc_row(2, query=123), "wrong_type", "'origin_query' must be a string"),
        ({**qc_row(2), "id": "abc"}, "bad_id", "expected an integer id, got 'abc'"),
        (
            b'{"id": 2, "task": "QC", "language": "fr", "origin_query": "caf\xe9", '
            b'"category_path": "a,b", "label": 1}',
            "invalid_utf8",
            "invalid continuation byte",
        ),
    ],
)
def test_bad_rows_are_quarantined_with_line_and_reason(tmp_path, bad, reason, detail) -> None:
    entry = _one_bad(tmp_path, bad)
    assert entry["reason"] == reason
    assert detail in entry["detail"]


def test_qi_missing_title_is_quarantined(tmp_path) -> None:
    entry = _one_bad(tmp_path, qi_row(2, title=None), task=QI)
    assert (entry["reason"], entry["detail"]) == ("missing_field", "'item_title' is missing")


def test_labels_accepted_as_int_or_string_and_optional_on_dev(tmp_path) -> None:
    path = write_jsonl(
        tmp_path / "t.txt", [qc_row(1, label=1), qc_row(2, label="0"), qc_row(3, label="1")]
    )
    assert [r["label"] for r in read_split(path, task=QC, split="train").rows] == [1, 0, 1]
    dev = write_jsonl(tmp_path / "d.txt", [qc_row(1, label=None), qc_row(2, label=0)])
    assert [r["label"] for r in read_split(dev, task=QC, split="dev").rows] == [None, 0]


def test_cleaning_keeps_the_original_text(tmp_path) -> None:
    path = write_jsonl(
        tmp_path / "t.txt", [qc_row(1, "fr", "  cafe\u0301   noir ", "home & garden,kitchen")]
    )
    (row,) = read_split(path, task=QC, split="train").rows
    assert row["query"] == "café noir"
    assert row["query_raw"] == "  cafe\u0301   noir "
    assert row["category_levels"] == ["home & garden", "kitchen"]


def test_vn_is_kept_and_normalised(tmp_path) -> None:
    path = write_jsonl(tmp_path / "t.txt", [qi_row(1, "vn", "áo thun", "Áo thun nam")])
    (row,) = read_split(path, task=QI, split="train").rows
    assert (row["language"], row["lang"]) == ("vn", "vi")


def _params(**kw) -> DataParams:
    return DataParams(dir="unused", **kw)


def test_ingest_counts_reconcile_and_files_are_written(tmp_path) -> None:
    data = small_qc_dir(tmp_path / "in", n_train=200, n_dev=40)
    # One bad row in 201 (< 1%): quarantined, not fatal.
    rows = [json.loads(line) for line in (data / "train_QC.txt").read_text().splitlines()]
    write_jsonl(data / "train_QC.txt", [*rows, qc_row(999, label=7)])
    metrics = ingest_task(
        data_dir=data, task=QC, data=_params(), max_bad_fraction=0.01, out_dir=tmp_path / "out"
    )
    for split in ("train", "dev"):
        m = metrics[split]
        assert m["rows_in"] == m["rows_out"] + m["quarantined"]
    assert metrics["train"]["quarantined_by_reason"] == {"bad_label": 1}
    assert metrics["dev"]["label_file"] == {
        "rows_in": 40,
        "applied": 40,
        "quarantined": 0,
        "blank_lines": 0,
    }
    assert metrics["dev"]["labelled"] == 40
    assert metrics["total"] == {"rows_in": 241, "rows_out": 240, "quarantined": 1}
    assert "test" not in metrics  # no test file: skipped, and said so in the log
    train = pq.read_table(tmp_path / "out" / "train.parquet")
    assert train.num_rows == 200
    quarantine = pq.read_table(tmp_path / "out" / "quarantine.parquet").to_pylist()
    assert [(q["split"], q["source_line"], q["reason"]) for q in quarantine] == [
        ("train", 201, "bad_label")
    ]


def test_too_many_bad_rows_fail_naming_file_line_and_reason(tmp_path) -> None:
    data = small_qc_dir(tmp_path / "in", n_train=20)
    rows = [json.loads(line) for line in (data / "train_QC.txt").read_text().splitlines()]
    rows[4]["label"] = "maybe"
    write_jsonl(data / "train_QC.txt", [*rows, "not json"])
    with pytest.raises(DataError) as err:
        ingest_task(
            data_dir=data, task=QC, data=_params(), max_bad_fraction=0.01, out_dir=tmp_path / "o"
        )
    message = str(err.value)
    assert "2 of 21 records are bad" in message
    assert f"{data / 'train_QC.txt'}:5: bad_label" in message
    assert f"{data / 'train_QC.txt'}:21: malformed_json" in message


def test_empty_file_and_blank_only_file_fail(tmp_path) -> None:
    data = small_qc_dir(tmp_path / "in")
    (data / "dev_QC.txt").write_text("")
    with pytest.raises(DataError, match=r"dev_QC.txt: no records"):
        ingest_task(
            data_dir=data, task=QC, data=_params(), max_bad_fraction=0.01, out_dir=tmp_path / "o"
        )
    (data / "dev_QC.txt").write_text("\n\n  \n")
    with pytest.raises(DataError, match=r"dev_QC.txt: no records"):
        ingest_task(
            data_dir=data, task=QC, data=_params(), max_bad_fraction=0.01, out_dir=tmp_path / "o"
        )


def test_missing_required_file_names_the_param(tmp_path) -> None:
    data = small_qc_dir(tmp_path / "in")
    (data / "dev_QC.txt").unlink()
    with pytest.raises(DataError, match=r"dev_QC.txt: dev file not found \(params.yaml data.dev"):
        ingest_task(
            data_dir=data, task=QC, data=_params(), max_bad_fraction=0.01, out_dir=tmp_path / "o"
        )


def test_labels_file_unknown_ids_quarantined_and_conflicts_fail(tmp_path) -> None:
    data = small_qc_dir(tmp_path / "in", n_dev=4)
    write_jsonl(
        data / "dev_labels_QC.txt",
        [
            {"id": 1, "label": 1},
            {"id": 77, "label": 0},
            {"id": 2, "label": 5},
            {"id": 3, "label": 0},
            {"id": 4, "label": 1},
        ],
    )
    metrics = ingest_task(
        data_dir=data, task=QC, data=_params(), max_bad_fraction=1.0, out_dir=tmp_path / "o"
    )
    assert metrics["dev"]["label_file"]["rows_in"] == 5
    assert metrics["dev"]["label_file"]["applied"] == 3
    quarantine = pq.read_table(tmp_path / "o" / "quarantine.parquet").to_pylist()
    assert sorted((q["split"], q["source_line"], q["reason"]) for q in quarantine) == [
        ("dev_labels", 2, "unknown_id"),
        ("dev_labels", 3, "bad_label"),
    ]
    # A label in the dev file that the labels file contradicts: no silent choice.
    write_jsonl(
        data / "dev_QC.txt",
        [qc_row(1, label=0), qc_row(2, label=None), qc_row(3, label=None), qc_row(4, label=None)],
    )
    with pytest.raises(
        DataError, match=r"dev_labels_QC.txt:1: label 1 for id 1 contradicts label 0"
    ):
        ingest_task(
            data_dir=data, task=QC, data=_params(), max_bad_fraction=1.0, out_dir=tmp_path / "o"
        )


def test_conflicting_labels_are_kept_and_counted(tmp_path) -> None:
    data = small_qc_dir(tmp_path / "in")
    rows = [
        qc_row(1, query="mug", path="a,b", label=1),
        qc_row(2, query="mug", path="a,b", label=0),
        qc_row(3, query="mug", path="a,b", label=1),
        qc_row(4, query="cup", path="a,b", label=1),
        qc_row(5, query="cup", path="a,b", label=1),
        qc_row(6, query="pen", path="c,d", label=0),
    ]
    write_jsonl(data / "train_QC.txt", rows)
    metrics = ingest_task(
        data_dir=data, task=QC, data=_params(), max_bad_fraction=0.01, out_dir=tmp_path / "o"
    )
    assert metrics["train"]["rows_out"] == 6
    assert metrics["train"]["pairs"] == {
        "duplicate_pairs": 2,
        "rows_in_duplicate_pairs": 5,
        "conflicting_pairs": 1,
        "rows_in_conflicting_pairs": 3,
    }


def test_csv_tsv_and_parquet_inputs_give_the_same_rows(tmp_path) -> None:
    rows = [
        qc_row(1, "fr", "tasse à café", "home & garden,kitchen", 1),
        qc_row(2, "ja", "コーヒーカップ", "automobiles, parts & accessories,seat covers", "0"),
    ]
    expected = read_split(write_jsonl(tmp_path / "a.txt", rows), task=QC, split="train").rows
    columns = ["id", "task", "language", "origin_query", "category_path", "label"]
    for suffix, delimiter in ((".csv", ","), (".tsv", "\t")):
        path = tmp_path / f"a{suffix}"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            writer.writerow(columns)
            writer.writerows([[r[c] for c in columns] for r in rows])
        got = read_split(path, task=QC, split="train").rows
        assert _core(got) == _core(expected)
        assert [r["source_line"] for r in got] == [2, 3]  # the header is line 1
    path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist([{**r, "label": int(r["label"])} for r in rows]), path)
    assert _core(read_split(path, task=QC, split="train").rows) == _core(expected)


def test_csv_with_wrong_field_count_and_bad_bytes(tmp_path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(
        b"id,task,language,origin_query,category_path,label\n"
        b'1,QC,en,mug,"a,b",1\n2,QC,en,mug\n3,QC,fr,caf\xe9,"a,b",1\n'
    )
    result = read_split(path, task=QC, split="train")
    assert [(q["source_line"], q["reason"]) for q in result.quarantine] == [
        (3, "malformed_row"),
        (4, "invalid_utf8"),
    ]
    assert result.rows_in == 3 and len(result.rows) == 1


def _core(rows: list[dict]) -> list[tuple]:
    return [
        (r["id"], r["language"], r["query"], r["candidate"], r["label"], r["category_levels"])
        for r in rows
    ]


def test_ingest_stage_cli_exit_codes_and_message(tmp_path, monkeypatch) -> None:
    from stages.ingest import main

    data = small_qc_dir(tmp_path / "in")
    params = tmp_path / "params.yaml"
    params.write_text("data:\n  dir: unused\ningest:\n  max_bad_fraction: 0.0\n")
    args = [
        "--task",
        "qc",
        "--data-dir",
        str(data),
        "--out-dir",
        str(tmp_path / "out"),
        "--metrics",
        str(tmp_path / "m.json"),
        "--params",
        str(params),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "ingest@qc: 240 records in, 240 out, 0 quarantined" in result.output
    assert json.loads((tmp_path / "m.json").read_text())["total"]["rows_out"] == 240

    write_jsonl(data / "dev_QC.txt", [qc_row(1, label=None), "{broken"])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert f"Error: {data / 'dev_QC.txt'}: 1 of 2 records are bad" in result.output
    assert f"{data / 'dev_QC.txt'}:2: malformed_json" in result.output

    params.write_text("ingest:\n  max_bad_fracton: 0.1\n")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "unknown key(s) max_bad_fracton" in result.output


# ---------------------------------------------------------------- what real files bring


def test_a_byte_order_mark_is_accepted_in_json_lines_csv_and_tsv(tmp_path) -> None:
    rows = [qc_row(1, label=1), qc_row(2, "fr", "tasse", label=0)]
    plain = write_jsonl(tmp_path / "plain.txt", rows)
    expected = _core(read_split(plain, task=QC, split="train").rows)
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    result = read_split(bom, task=QC, split="train")
    assert result.quarantine == [] and _core(result.rows) == expected
    assert result.byte_order_mark
    columns = ["id", "task", "language", "origin_query", "category_path", "label"]
    for suffix, delimiter in ((".csv", ","), (".tsv", "\t")):
        path = tmp_path / f"bom{suffix}"
        with path.open("w", newline="", encoding="utf-8-sig") as handle:  # Excel's way
            writer = csv.writer(handle, delimiter=delimiter)
            writer.writerow(columns)
            writer.writerows([[r[c] for c in columns] for r in rows])
        result = read_split(path, task=QC, split="train")
        assert result.quarantine == [], result.quarantine
        assert _core(result.rows) == expected


@pytest.mark.parametrize(("given", "label"), [("1.0", 1), ("0.0", 0), (" 1.00 ", 1), (1.0, 1)])
def test_int_valued_label_strings_are_labels(tmp_path, given, label) -> None:
    path = write_jsonl(tmp_path / "t.txt", [qc_row(1, label=given)])
    (row,) = read_split(path, task=QC, split="train").rows
    assert row["label"] == label


@pytest.mark.parametrize("given", ["1.5", "2.0", "01", "1e0", "nan", "-0.0", "yes"])
def test_other_label_strings_stay_quarantined(tmp_path, given) -> None:
    assert _one_bad(tmp_path, qc_row(2, label=given))["reason"] == "bad_label"


def test_language_codes_are_lower_cased_and_the_original_kept(tmp_path) -> None:
    path = write_jsonl(
        tmp_path / "d.txt",
        [qc_row(1, "DE", label=None), qc_row(2, "de", label=None), qc_row(3, " Vn ", label=None)],
    )
    rows = read_split(path, task=QC, split="dev").rows
    assert [(r["language"], r["language_raw"], r["lang"]) for r in rows] == [
        ("de", "DE", "de"),
        ("de", "de", "de"),
        ("vn", " Vn ", "vi"),
    ]


def test_mixed_case_codes_are_one_missing_language_in_stats(tmp_path) -> None:
    from relevance.data.stats import connect, languages

    data = small_qc_dir(tmp_path / "in", n_dev=4)
    write_jsonl(
        data / "dev_QC.txt",
        [qc_row(1, "DE", label=None), qc_row(2, "de", label=None), qc_row(3, "En", label=None)],
    )
    (data / "dev_labels_QC.txt").unlink()
    out = tmp_path / "o"
    ingest_task(data_dir=data, task=QC, data=_params(), max_bad_fraction=0.01, out_dir=out)
    con = connect({s: out / f"{s}.parquet" for s in ("train", "dev")})
    found = languages(con)
    assert found["missing_from_train"] == [{"language": "de", "lang": "de"}]
    assert found["by_split"]["dev"] == ["de", "en"]


def test_a_record_over_max_record_bytes_is_quarantined_without_reading_it_whole(
    tmp_path,
) -> None:
    import tracemalloc

    huge = "x" * (8 << 20)  # an 8 MB query
    path = write_jsonl(tmp_path / "t.txt", [qc_row(1), qc_row(2, query=huge), qc_row(3)])
    del huge
    tracemalloc.start()
    result = read_split(path, task=QC, split="train", max_record_bytes=64 * 1024)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [r["id"] for r in result.rows] == [1, 3]
    (entry,) = result.quarantine
    assert (entry["source_line"], entry["reason"], entry["id"]) == (2, "too_long", 2)
    assert "ingest.max_record_bytes is 65,536" in entry["detail"]
    assert len(entry["raw"]) < 2000  # the quarantine keeps the start only
    assert peak < 4 << 20, f"peak {peak / 1e6:.1f} MB for an 8 MB line"


def test_too_long_records_in_csv_and_parquet(tmp_path) -> None:
    path = tmp_path / "a.csv"
    long_query = "y" * 5000
    path.write_text(
        "id,task,language,origin_query,category_path,label\n"
        f'1,QC,en,mug,"a,b",1\n2,QC,en,{long_query},"a,b",1\n3,QC,en,cup,"a,b",0\n',
        encoding="utf-8",
    )
    result = read_split(path, task=QC, split="train", max_record_bytes=1024)
    assert [r["id"] for r in result.rows] == [1, 3]
    assert [(q["source_line"], q["reason"], q["id"]) for q in result.quarantine] == [
        (3, "too_long", 2)
    ]
    parquet = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist([qc_row(1), qc_row(2, query=long_query)]), parquet)
    result = read_split(parquet, task=QC, split="train", max_record_bytes=1024)
    assert [(q["source_line"], q["reason"]) for q in result.quarantine] == [(2, "too_long")]


def test_a_line_at_the_limit_is_kept(tmp_path) -> None:
    row = qc_row(1)
    line = json.dumps(row)
    row["origin_query"] += " " * (1024 - len(line))  # exactly 1024 bytes
    path = write_jsonl(tmp_path / "t.txt", [row])
    assert len(path.read_bytes()) == 1025
    assert len(read_split(path, task=QC, split="train", max_record_bytes=1024).rows) == 1
    assert read_split(path, task=QC, split="train", max_record_bytes=1023).reasons == {
        "too_long": 1
    }


def test_dev_records_the_model_can_score_are_kept_with_their_defect(tmp_path) -> None:
    path = write_jsonl(
        tmp_path / "d.txt",
        [
            qi_row(1, label=None),
            qi_row(2, title="", label=None),
            qi_row(3, title=None, label=None),
            {k: v for k, v in qi_row(4, label=None).items() if k != "item_title"},
            qi_row(5, label="maybe"),
            qi_row(6, title="  ", label="2"),
        ],
    )
    result = read_split(path, task=QI, split="dev")
    assert result.quarantine == []
    assert [(r["id"], r["candidate"], r["label"], r["defect"]) for r in result.rows] == [
        (1, "Red ceramic mug 350ml", None, None),
        (2, "", None, "empty_field"),
        (3, "", None, "missing_field"),
        (4, "", None, "missing_field"),
        (5, "Red ceramic mug 350ml", None, "bad_label"),
        (6, "", None, "empty_field,bad_label"),
    ]
    assert result.defects == {"bad_label": 2, "empty_field": 2, "missing_field": 2}
    # Training rows get no such leniency.
    train = read_split(path, task=QI, split="train")
    assert len(train.rows) == 0 and len(train.quarantine) == 6


def test_dev_records_that_cannot_be_scored_keep_their_id(tmp_path) -> None:
    path = write_jsonl(
        tmp_path / "d.txt",
        [
            qc_row(1, label=None),
            qc_row(2, task="QI", label=None),
            '{"id": 3, "task": "QC", "origin_query": "broken',
            qc_row(1, query="again", label=None),
        ],
    )
    result = read_split(path, task=QC, split="dev")
    assert [(q["source_line"], q["reason"], q["id"]) for q in result.quarantine] == [
        (2, "wrong_task", 2),
        (3, "malformed_json", 3),
        (4, "duplicate_id", 1),
    ]
    assert result.quarantine[0]["query_raw"] == "coffee cup"
    assert result.quarantine[0]["candidate_raw"] == "home & garden,kitchen"


def test_a_dev_record_whose_id_cannot_be_read_stops_ingest(tmp_path) -> None:
    data = small_qc_dir(tmp_path / "in", n_dev=4)
    rows = [qc_row(i, label=None) for i in range(1, 5)]
    write_jsonl(data / "dev_QC.txt", [*rows[:2], '{"task": "QC", "id": 3, broken', *rows[3:]])
    with pytest.raises(DataError) as err:
        ingest_task(
            data_dir=data, task=QC, data=_params(), max_bad_fraction=0.5, out_dir=tmp_path / "o"
        )
    assert "whose id cannot be read, so no submission could answer them" in str(err.value)
    assert f"{data / 'dev_QC.txt'}:3: malformed_json" in str(err.value)


def test_utf16_files_and_repeated_csv_headers_are_clear_errors(tmp_path) -> None:
    utf16 = tmp_path / "t.txt"
    utf16.write_text(json.dumps(qc_row(1)) + "\n", encoding="utf-16")
    with pytest.raises(DataError, match=r"t.txt: is UTF-16 text; expected UTF-8"):
        read_split(utf16, task=QC, split="train")
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("id,task,language,origin_query,id,label\n1,QC,en,mug,2,1\n")
    with pytest.raises(DataError, match=r"t.csv:1: header names 'id' twice"):
        read_split(csv_path, task=QC, split="train")
