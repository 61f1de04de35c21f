"""Build an offline HTML template for `dvc plots show/diff`: vega, vega-lite and vega-embed
inlined, so the page draws its plots with no network.

DVC's default page loads the three libraries from a CDN (the script tags in
``dvc_render.vega.VegaRenderer.SCRIPTS``, put where the template says ``{scripts}``), so
offline its plots stay blank. This script:

1. reads the versions DVC's page asks for from those script tags (DVC 3.67 with
   dvc-render 1.0.2: vega 5.20.2, vega-lite 5.2.0, vega-embed 6.18.2), so the template
   follows DVC when it upgrades;
2. downloads the three npm packages with ``npm pack`` (tarballs only: no install, no
   package scripts) into a temporary folder;
3. takes from each the build its package.json names for ``jsdelivr`` (the exact file the
   CDN serves: ``build/vega.min.js`` ...);
4. writes a page with DVC's ``{plot_divs}`` placeholder (and ``{refresh_tag}``) and the
   libraries inlined, but without ``{scripts}``: DVC then has nowhere to put its CDN tags.

DVC reads the template from ``plots.html_template`` in ``.dvc/config``; a relative path
there is relative to the ``.dvc`` folder (``dvc/commands/plots.py``), so the project sets
``html_template = plots/offline_template.html``.

Without npm (or without the registry) the template cannot be built. ``--cdn-fallback``
(what ``make install`` uses) then keeps an existing offline build, or else writes DVC's
default CDN page with a note, so ``dvc plots show`` still works online (a missing template
file would make DVC fail with "HTML template has to contain '{plot_divs}'"), warns with the
fix and exits 0. Without the flag it exits 1.

Usage: python scripts/build_plots_template.py [--out PATH] [--force] [--cdn-fallback]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DEFAULT_OUT = Path(".dvc/plots/offline_template.html")
LIBRARIES = ("vega", "vega-lite", "vega-embed")  # load order: vega-lite and embed need vega
# First line of every template this script writes; an offline build of the versions DVC
# asks for is up to date.
MARKER = "<!-- relevance plots template: {kind} {versions} -->"
DVC_PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")

PAGE = """{marker}
<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>DVC Plot</title>
{scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


class TemplateError(Exception):
    """The template cannot be built; the message says why and how to fix it."""


class NpmUnavailable(TemplateError):
    """npm is not installed, or it could not fetch the packages."""


def dvc_versions() -> dict[str, str]:
    """The library versions DVC's default plots page loads from its CDN."""
    from dvc_render.vega import VegaRenderer

    found = dict(re.findall(r"/npm/(vega(?:-lite|-embed)?)@([0-9][\w.+-]*)", VegaRenderer.SCRIPTS))
    missing = [name for name in LIBRARIES if name not in found]
    if missing:
        raise TemplateError(
            f"expected script tags for {', '.join(LIBRARIES)} in dvc_render's "
            f"VegaRenderer.SCRIPTS, found none for {', '.join(missing)}:\n"
            f"{VegaRenderer.SCRIPTS.strip()}\n(dvc-render changed: update this script)"
        )
    return {name: found[name] for name in LIBRARIES}


def marker(kind: str, versions: dict[str, str]) -> str:
    return MARKER.format(kind=kind, versions=" ".join(f"{n}@{v}" for n, v in versions.items()))


def npm_pack(versions: dict[str, str], into: Path) -> dict[str, Path]:
    """``npm pack`` the packages into ``into``; their tarballs by package name."""
    npm = shutil.which("npm")
    if npm is None:
        raise NpmUnavailable("npm not found on PATH")
    specs = [f"{name}@{version}" for name, version in versions.items()]
    try:
        result = subprocess.run(
            [npm, "pack", "--json", "--ignore-scripts", *specs],
            cwd=into,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise NpmUnavailable(f"`npm pack {' '.join(specs)}` timed out after 600 s") from exc
    if result.returncode != 0:
        raise NpmUnavailable(
            f"`npm pack {' '.join(specs)}` failed (exit {result.returncode}):\n"
            f"{result.stderr.strip()[-2000:]}"
        )
    packed = json.loads(result.stdout)
    return {entry["name"]: into / entry["filename"] for entry in packed}


def browser_build(tarball: Path, *, name: str, version: str) -> tuple[str, str]:
    """The minified browser build (the file the CDN serves) and the licence of a package."""
    with tarfile.open(tarball, "r:gz") as archive:
        meta = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
        if meta.get("version") != version:
            raise TemplateError(f"{tarball.name}: expected {name} {version}, got {meta['version']}")
        entry = meta.get("jsdelivr") or meta.get("unpkg")
        if not entry:
            raise TemplateError(f"{tarball.name}: package.json names no jsdelivr/unpkg build")
        member = "package/" + entry.removeprefix("./")
        try:
            code = archive.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
        except KeyError as exc:
            raise TemplateError(f"{tarball.name}: no {member} (named in package.json)") from exc
    for placeholder in DVC_PLACEHOLDERS:
        if placeholder in code:
            # DVC replaces these strings anywhere in the page, code included.
            raise TemplateError(f"{name} {version} contains DVC's placeholder {placeholder}")
    # "</script" would end the inline <script> element early; "<\/script" is the same
    # string to JavaScript.
    code = re.sub(r"</(script)", r"<\\/\1", code, flags=re.IGNORECASE)
    return code, str(meta.get("license", "see the package"))


def offline_page(versions: dict[str, str]) -> str:
    """The template with the three libraries inlined (downloads them with npm)."""
    scripts = []
    with tempfile.TemporaryDirectory(prefix="plots-template-") as tmp:
        tarballs = npm_pack(versions, Path(tmp))
        for name, version in versions.items():
            code, licence = browser_build(tarballs[name], name=name, version=version)
            scripts.append(
                f"    <!-- {name} {version} ({licence}), inlined from the npm package -->\n"
                f"    <script>\n{code}\n    </script>"
            )
    return PAGE.format(marker=marker("offline", versions), scripts="\n".join(scripts))


def cdn_page(versions: dict[str, str]) -> str:
    """DVC's own page (libraries from the CDN, through ``{scripts}``) with a note on top."""
    from dvc_render.html import PAGE_HTML

    note = (
        '<p style="font-family: sans-serif; color: #a40;">These plots load vega from a CDN '
        "(no offline template was built): run <code>make plots-template</code> with npm "
        "installed to draw them offline.</p>"
    )
    body = PAGE_HTML.replace("{plot_divs}", note + "\n    {plot_divs}")
    return marker("cdn-fallback", versions) + "\n" + body + "\n"


def is_current(out: Path, versions: dict[str, str]) -> bool:
    if not out.is_file():
        return False
    with out.open(encoding="utf-8") as file:
        return file.readline().strip() == marker("offline", versions)


def is_offline(out: Path) -> bool:
    if not out.is_file():
        return False
    with out.open(encoding="utf-8") as file:
        return file.readline().startswith(MARKER.split("{kind}")[0] + "offline ")


def write(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(out)


def build(out: Path, *, force: bool = False, cdn_fallback: bool = False) -> str:
    """Write the template to ``out``; returns what was done ("built", "up to date", ...)."""
    versions = dvc_versions()
    if not force and is_current(out, versions):
        return "up to date"
    try:
        page = offline_page(versions)
    except NpmUnavailable as exc:
        if not cdn_fallback:
            raise
        kept = is_offline(out)
        if not kept:
            write(out, cdn_page(versions))
        print(
            f"WARNING: offline plots template not built: {exc}.\n"
            + (
                f"  Kept the existing offline template {out} (other library versions).\n"
                if kept
                else f"  Wrote {out} loading vega from a CDN instead: `dvc plots show` "
                "pages need the network.\n"
            )
            + "  Fix: install Node.js with npm (e.g. `apt-get install npm`) and make sure "
            "the npm registry is reachable, then run `make plots-template`.",
            file=sys.stderr,
        )
        return "kept existing" if kept else "cdn fallback"
    write(out, page)
    return (
        f"built ({len(page) / 1e6:.1f} MB, "
        + ", ".join(f"{n} {v}" for n, v in versions.items())
        + " inlined)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument(
        "--cdn-fallback",
        action="store_true",
        help="without npm, warn and write a CDN page instead of failing (make install)",
    )
    args = parser.parse_args(argv)
    try:
        done = build(args.out, force=args.force, cdn_fallback=args.cdn_fallback)
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, NpmUnavailable):
            print(
                "Fix: install Node.js with npm (e.g. `apt-get install npm`) and make sure the "
                "npm registry is reachable, then rerun.",
                file=sys.stderr,
            )
        return 1
    print(f"{args.out}: {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
