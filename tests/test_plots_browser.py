"""`dvc plots show/diff` pages seen in headless Chromium (scripts/check_plots_in_browser.py):
charts drawn, no network request. Slow (a browser start per page); skipped without
Chromium (Debian's `chromium` package)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_plots_in_browser.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
        reason="no Chromium (apt-get install chromium)",
    ),
]


def _script():
    spec = importlib.util.spec_from_file_location("check_plots_in_browser", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plots_pages_draw_offline() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--diff", "HEAD"], cwd=ROOT, capture_output=True,
        text=True, timeout=900, check=False,
    )  # fmt: skip
    pages = [json.loads(line) for line in done.stdout.splitlines()]
    assert [p["command"] for p in pages] == ["dvc plots show", "dvc plots diff HEAD"]
    for page in pages:
        assert page["page_requests"] == [] and page["charts"] >= 2, page
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_page_that_fetches_is_caught(tmp_path: Path) -> None:
    """The negative control: a page loading vega from a CDN, as DVC's own template does."""
    script = _script()
    page = tmp_path / "cdn" / "index.html"
    page.parent.mkdir()
    page.write_text(
        '<!DOCTYPE html><html><head><script src="https://cdn.jsdelivr.net/npm/vega@5">'
        "</script></head><body></body></html>\n"
    )
    result = script.render(page, tmp_path, script.find_chromium())
    assert "cdn.jsdelivr.net" in {script.host(r) for r in result["requests"]}
    assert result["charts"] == 0
