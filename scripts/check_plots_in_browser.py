"""Open `dvc plots show` (and `dvc plots diff`) HTML in headless Chromium and check it.

Run in the project after `make repro` (the offline template comes from `make install`;
Chromium is Debian's `chromium` package):

    python scripts/check_plots_in_browser.py [--diff main] [--keep DIR]

For each page: Chromium renders it with every connection sent to a local proxy that
records and refuses it (`--proxy-server`, loopback included), then takes a screenshot
and dumps the rendered DOM. The page passes when

- no request reached the proxy but those Chromium makes for an empty page too (its
  component updater and sign-in, which some builds keep even with the switches below):
  the page draws offline (vega, vega-lite and vega-embed inlined; no CDN, fonts or
  images fetched);
- the DOM holds one rendered chart (a vega `<canvas>` or `<svg>`) per plot of dvc.yaml;
- the screenshot has coloured pixels (the drawn points), not a blank page.

Prints one JSON line per page and exits 1 when a page fails.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import click
import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


class RefusingProxy:
    """A local TCP server that records the first line of every request and closes it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    first = "(no request line)"
                self.requests.append(first)
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._server.close()


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise click.ClickException(
        f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)}): apt-get install chromium"
    )


def host(request: str) -> str:
    """The host a proxied request line names (``CONNECT h:443``, ``GET http://h/...``)."""
    target = request.split(" ")[1] if " " in request else request
    return re.sub(r"^[a-z]+://", "", target).split("/")[0].split(":")[0]


def render(page: Path, out_dir: Path, chromium: str) -> dict:
    """Screenshot and rendered DOM of ``page``, and the requests it tried."""
    proxy = RefusingProxy()
    common = [
        chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--proxy-server=http://127.0.0.1:{proxy.port}", "--proxy-bypass-list=<-loopback>",
        # The browser's own services (updates, time, sign-in) would use the network
        # too; off, so that what reaches the proxy comes from the page.
        "--disable-background-networking", "--disable-component-update",
        "--disable-domain-reliability", "--disable-sync", "--no-pings", "--no-first-run",
        "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate,"
        "MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
        "--virtual-time-budget=15000",
        f"--user-data-dir={out_dir / 'profile'}", "--window-size=1400,2200",
    ]  # fmt: skip
    screenshot = out_dir / f"{page.parent.name}.png"
    try:
        subprocess.run(
            [*common, f"--screenshot={screenshot}", page.resolve().as_uri()],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        dom = subprocess.run(
            [*common, "--dump-dom", page.resolve().as_uri()],
            check=True, capture_output=True, text=True, timeout=180,
        ).stdout  # fmt: skip
    finally:
        proxy.close()
    pixels = np.asarray(Image.open(screenshot).convert("RGB")).astype(int)
    # Coloured: channels apart (vega's blue/orange points), unlike text and axes (grey).
    coloured = int(((pixels.max(axis=2) - pixels.min(axis=2)) > 60).sum())
    return {
        "page": str(page),
        "screenshot": str(screenshot),
        "charts": len(re.findall(r"<canvas|<svg[^>]*class=\"marks\"", dom)),
        "coloured_pixels": coloured,
        "requests": proxy.requests,
    }


@click.command()
@click.option("--diff", "diff_rev", default=None, help="Also check `dvc plots diff REV`.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the pages and screenshots here.")  # fmt: skip
def main(diff_rev: str | None, keep: Path | None) -> None:
    chromium = find_chromium()
    plots = len(yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"])
    work = keep or Path(tempfile.mkdtemp(prefix="plots-browser-"))
    work.mkdir(parents=True, exist_ok=True)
    commands = {"show": ["plots", "show"]}
    if diff_rev:
        commands["diff"] = ["plots", "diff", diff_rev]
    blank = work / "blank" / "index.html"
    blank.parent.mkdir(exist_ok=True)
    blank.write_text("<!DOCTYPE html><html><body></body></html>\n")
    browser_hosts = {host(r) for r in render(blank, work, chromium)["requests"]}
    failed = False
    for name, args in commands.items():
        out = work / name
        subprocess.run(
            [sys.executable, "-m", "dvc", *args, "--out", str(out)], check=True, cwd=ROOT,
            capture_output=True,
        )  # fmt: skip
        result = render(out / "index.html", work, chromium)
        result["page_requests"] = [r for r in result["requests"] if host(r) not in browser_hosts]
        result["browser_requests"] = len(result.pop("requests")) - len(result["page_requests"])
        result["ok"] = (
            not result["page_requests"]
            and result["charts"] >= plots
            and result["coloured_pixels"] > 500
        )
        failed |= not result["ok"]
        click.echo(json.dumps({"command": f"dvc {' '.join(args)}", **result}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
