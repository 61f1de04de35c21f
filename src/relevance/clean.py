"""Text cleaning shared by ingestion and every later use (prompt options, pivots)."""

from __future__ import annotations

import unicodedata


def clean_text(text: str, *, lowercase: bool = False) -> str:
    """Unicode NFC, every run of whitespace collapsed to one space, ends stripped.

    ``lowercase`` is the winning team's optional extra step; ingestion keeps case so
    the original casing stays available to the model.
    """
    text = " ".join(unicodedata.normalize("NFC", text).split())
    return text.lower() if lowercase else text
