"""The offline `dvc plots` template (scripts/build_plots_template.py).

Building it downloads three npm packages (vega, vega-lite, vega-embed) from the npm
registry; those tests skip when npm is not installed, and only then. The CDN fallback
tests run without npm.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts/build_plots_template.py"
BIN = Path(sys.executable).parent
VERSIONS = "vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2"  # what DVC 3.67's page loads
# Hosts that appear in the libraries' code as identifiers or links a reader may click
# (JSON schema ids, XML namespaces, the "Open in Vega Editor" action, issue links); the
# page loads nothing from them.
IDENTIFIER_HOSTS = {"vega.github.io", "www.w3.org", "github.com"}

needs_npm = pytest.mark.skipif(
    shutil.which("npm") is None,
    reason="npm not found on PATH: the offline template is built from npm packages "
    "(install Node.js with npm to run this test)",
)


def _build(out: Path, *extra: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path if path is not None else os.environ["PATH"]}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _assert_loads_nothing_remote(page: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)
    assert "cdn.jsdelivr" not in page
    hosts = {urlparse(url).hostname for url in re.findall(r"https?://[^\s\"'`<>)]+", page)}
    assert hosts <= IDENTIFIER_HOSTS, f"unexpected URLs to {hosts - IDENTIFIER_HOSTS}"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npm") is None:
        pytest.skip("npm not found on PATH: the offline template is built from npm packages")
    out = tmp_path_factory.mktemp("template") / "plots/offline_template.html"
    result = _build(out)
    assert result.returncode == 0, result.stderr
    assert "built" in result.stdout
    return out


@needs_npm
def test_template_inlines_the_libraries_dvc_asks_for(template: Path) -> None:
    page = template.read_text(encoding="utf-8")
    assert page.splitlines()[0] == f"<!-- relevance plots template: offline {VERSIONS} -->"
    # The three UMD bundles, each defining its global.
    for global_name in (".vega={}", ".vegaLite={}", ".vegaEmbed="):
        assert global_name in page
    assert len(page) > 700_000  # about 0.8 MB of JavaScript
    # DVC fills {plot_divs}; without {scripts} it has nowhere to put its CDN tags.
    assert page.count("{plot_divs}") == 1
    assert "{scripts}" not in page
    assert '<script src="http' not in page
    _assert_loads_nothing_remote(page)
    # A second build finds it up to date (make install runs it every time).
    again = _build(template)
    assert again.returncode == 0 and "up to date" in again.stdout


@needs_npm
def test_dvc_plots_show_with_the_project_config_writes_an_offline_page(
    template: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    (repo / ".dvc/plots").mkdir(parents=True)
    # The project's own .dvc/config, plus the local setting `make plots-template` writes
    # (relative to .dvc): what is tested is what a user gets.
    shutil.copy2(ROOT / ".dvc/config", repo / ".dvc/config")
    shutil.copy2(template, repo / ".dvc/plots/offline_template.html")
    (repo / ".dvc/config.local").write_text(f"[core]\n    site_cache_dir = {tmp_path / 'site'}\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    makefile = (ROOT / "Makefile").read_text()
    assert "dvc config --local plots.html_template plots/offline_template.html" in makefile
    setting = ["plots.html_template", "plots/offline_template.html"]
    subprocess.run([str(BIN / "dvc"), "config", "--local", *setting], cwd=repo, check=True)
    (repo / "reports").mkdir()
    (repo / "reports/threshold_qc.csv").write_text(
        "threshold,f1,precision,recall\n0.2,0.8,0.67,1.0\n0.4,0.6,0.75,0.5\n0.6,0.5,1.0,0.33\n"
    )
    (repo / "dvc.yaml").write_text(
        "plots:\n  - reports/threshold_qc.csv:\n      x: threshold\n      y: f1\n"
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(
        [str(BIN / "dvc"), "plots", "show", "-o", "out"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = (repo / "out/index.html").read_text(encoding="utf-8")
    assert page.startswith(f"<!-- relevance plots template: offline {VERSIONS} -->")
    assert "vegaEmbed('#" in page  # DVC's plot div, filled in
    assert '"f1": "0.6"' in page  # the CSV's rows, inlined as the plot's data
    assert "{plot_divs}" not in page
    _assert_loads_nothing_remote(page)


def test_without_npm_it_fails_with_the_fix(tmp_path: Path) -> None:
    out = tmp_path / "t.html"
    result = _build(out, path=str(BIN))  # the venv's bin: python, dvc, no npm
    assert result.returncode == 1
    assert "npm not found on PATH" in result.stderr
    assert "install Node.js with npm" in result.stderr
    assert not out.exists()


def test_without_npm_the_fallback_keeps_dvc_plots_working(tmp_path: Path) -> None:
    out = tmp_path / "t.html"
    result = _build(out, "--cdn-fallback", path=str(BIN))
    assert result.returncode == 0, result.stderr
    assert "WARNING: offline plots template not built: npm not found on PATH" in result.stderr
    assert "make plots-template" in result.stderr
    page = out.read_text(encoding="utf-8")
    # DVC's own page: it fills {scripts} with its CDN tags, so plots draw when online.
    assert "{plot_divs}" in page and "{scripts}" in page
    assert "cdn-fallback" in page.splitlines()[0]

    # An offline build (of other versions) is kept rather than replaced by a CDN page.
    out.write_text("<!-- relevance plots template: offline vega@0 -->\n{plot_divs}\n")
    result = _build(out, "--cdn-fallback", path=str(BIN))
    assert result.returncode == 0
    assert "Kept the existing offline template" in result.stderr
    assert out.read_text().startswith("<!-- relevance plots template: offline vega@0")
