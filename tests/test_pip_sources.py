"""scripts/pip_sources.py: `make install` hands uv the package sources pip is configured
with, in pip's precedence (PIP_* variable, then [install], then [global])."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from pip_sources import parse_config_list, uv_options

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pip_sources.py"

CONFIG_LIST = """\
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.constraint='/etc/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/more/simple'
global.find-links='/opt/wheels'
global.index-url='https://mirror.example/simple'
install.index-url='https://install-mirror.example/simple'
:env:.find-links='/env/wheels /env/more'
:env:.default-timeout='180'
"""


def test_options_follow_pips_precedence() -> None:
    config = parse_config_list(CONFIG_LIST)
    assert uv_options(config) == [
        # [install] beats [global]
        "--index-url",
        "https://install-mirror.example/simple",
        "--extra-index-url",
        "file:///opt/pypi/simple",
        "--extra-index-url",
        "file:///opt/more/simple",
        # the PIP_FIND_LINKS variable beats the config file, and splits on whitespace
        "--find-links",
        "/env/wheels",
        "--find-links",
        "/env/more",
        "--constraint",
        "/etc/pip/constraints.txt",
        "--index-strategy",
        "unsafe-best-match",
    ]


def test_no_sources_means_no_options() -> None:
    # Only settings uv has no use for: uv keeps its defaults (PyPI, first-index).
    assert uv_options(parse_config_list(":env:.default-timeout='180'\n")) == []
    assert uv_options(parse_config_list("")) == []


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False)])
def test_no_index_flag(value: str, expected: bool) -> None:
    options = uv_options(parse_config_list(f":env:.no-index='{value}'\n"))
    assert ("--no-index" in options) is expected


def test_unreadable_line_names_its_number() -> None:
    with pytest.raises(ValueError, match=r"line 2: expected section\.name='value'"):
        parse_config_list("global.find-links='/w'\nnot a setting\n")


def test_script_reads_pips_own_config(tmp_path: Path) -> None:
    # The real `pip config list`, with a config file and a variable of our own only.
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nextra-index-url = file:///mirror/simple\n")
    # No PIP_* variable and no user-level pip.conf of the machine's (HOME, XDG) can interfere.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "XDG_"))}
    env.update(PIP_CONFIG_FILE=str(config), PIP_FIND_LINKS="/wheels", HOME=str(tmp_path))
    out = subprocess.run(
        [sys.executable, str(SCRIPT)], check=True, capture_output=True, text=True, env=env
    ).stdout
    assert "--extra-index-url file:///mirror/simple" in out
    assert "--find-links /wheels" in out
    assert out.rstrip().endswith("--index-strategy unsafe-best-match")
