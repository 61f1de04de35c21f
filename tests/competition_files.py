"""Tiny competition-format files written by tests (in tmp dirs, no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def qc_row(
    i: int,
    language: str = "en",
    query: str = "coffee cup",
    path: str = "home & garden,kitchen",
    label: Any = 1,
    **extra: Any,
) -> dict[str, Any]:
    row = {
        "id": i,
        "task": "QC",
        "language": language,
        "origin_query": query,
        "category_path": path,
    }
    if label is not None:
        row["label"] = label
    row.update(extra)
    return row


def qi_row(
    i: int,
    language: str = "en",
    query: str = "red mug",
    title: str = "Red ceramic mug 350ml",
    label: Any = 1,
) -> dict[str, Any]:
    row = {"id": i, "task": "QI", "language": language, "origin_query": query, "item_title": title}
    if label is not None:
        row["label"] = label
    return row


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    """Rows are dicts (JSON-encoded) or str/bytes (written verbatim, for broken lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for row in rows:
            if isinstance(row, bytes):
                handle.write(row + b"\n")
            elif isinstance(row, str):
                handle.write(row.encode("utf-8") + b"\n")
            else:
                handle.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return path


def small_qc_dir(root: Path, n_train: int = 200, n_dev: int = 40) -> Path:
    """A clean QC folder: train in en/fr, dev in en/de, dev labels apart."""
    train = [
        qc_row(
            i, "en" if i % 2 else "fr", f"query {i}", "a,b" if i % 3 else "c,d,e", label=i % 4 != 0
        )
        for i in range(1, n_train + 1)
    ]
    for row in train:
        row["label"] = int(row["label"])
    dev = [
        qc_row(i, "en" if i % 2 else "de", f"dev query {i}", "a,b", label=None)
        for i in range(1, n_dev + 1)
    ]
    write_jsonl(root / "train_QC.txt", train)
    write_jsonl(root / "dev_QC.txt", dev)
    write_jsonl(
        root / "dev_labels_QC.txt", [{"id": i, "label": i % 2} for i in range(1, n_dev + 1)]
    )
    return root
