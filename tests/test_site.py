"""The site builds from the stored outputs with warnings as errors, and reads right in a browser."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT),
         "--path-output", str(out),
         "--warningiserror", "--keep-going", "--quiet"],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"book build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return out / "_build" / "html"


def test_every_toc_page_is_built(site):
    import yaml
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]] + [c["file"] for p in toc["parts"] for c in p["chapters"]]
    for page in pages:
        assert (site / f"{page}.html").exists(), page


def test_chapter_pages_show_outputs_and_hide_solutions(site):
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        html = (site / "book" / f"{nb.stem}.html").read_text()
        assert "run stamp: device" in html, f"{nb.stem}: no run stamp on the page"
        assert "<img" in html, f"{nb.stem}: no figures on the page"
        assert "dropdown" in html and "tag_hide-input" in html, f"{nb.stem}: solutions not hidden"
        assert "Traceback" not in html


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium (Debian: apt-get install chromium)")


def browse(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=8000", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=120)


def test_explorer_runs_in_a_browser(site, tmp_path):
    """The convolution explorer is JavaScript: after the page loads, it has computed a size."""
    page = site / "book" / "convolution.html"
    dom = browse(page, tmp_path, "--dump-dom").stdout
    assert 'class="conv-explorer' in dom
    import re
    outs = re.findall(r'class="conv-explorer-out"[^>]*>([^<]*)<', dom)
    assert outs and any(re.search(r"\d", o) for o in outs), "the explorer's script did not run"


def test_screenshots(site, tmp_path):
    """Screenshots of the home page and every chapter, kept in _build/screenshots for a look."""
    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    pages = [site / "index.html"] + sorted((site / "book").glob("*.html"))
    for page in pages:
        png = shots / f"{page.stem}.png"
        browse(page, tmp_path, f"--screenshot={png}", "--window-size=1280,1600",
               "--hide-scrollbars")
        assert png.exists() and png.stat().st_size > 20_000, f"blank screenshot of {page.name}"
