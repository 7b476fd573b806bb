"""The site builds from the stored outputs with warnings as errors, and reads right in a browser."""
import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
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
        assert "dropdown" in html and "tag_hide-cell" in html, f"{nb.stem}: solutions not hidden"
        assert "Traceback" not in html


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium: `make browser` (Debian: apt-get install chromium)")


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


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe: no port, no driver.

    Chromium reads commands on fd 3 and writes replies and events on fd 4, one JSON message
    per NUL-terminated chunk (``--remote-debugging-pipe``); ``sh`` maps our pipes there.
    """

    def __init__(self, binary: str, profile: Path, *, width: int = 1280, height: int = 1600):
        profile.mkdir(parents=True, exist_ok=True)
        self.log = open(profile / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            ["sh", "-c", 'exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null', binary,
             "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--hide-scrollbars", "--mute-audio",
             f"--window-size={width},{height}", f"--user-data-dir={profile}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.buffer, self.events, self.next_id, self.session = b"", [], 0, None
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"],
                                 flatten=True)["sessionId"]
        self.send("Page.enable")
        self.send("Network.enable")
        # the pages load MathJax and require.js from CDNs: fail them at once, offline or not
        self.send("Network.setBlockedURLs", urls=["http://*", "https://*"])

    def close(self):
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.log.close()

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (log: {self.log.name})")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, timeout: float = 60, **params) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        self.proc.stdin.write(json.dumps(msg).encode() + b"\0")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, msg in enumerate(self.events):
                if msg.get("method") == event:
                    return self.events.pop(i)
            self.events.append(self._message(deadline))

    def open(self, url: str):
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def js(self, expression: str):
        """The JSON value of ``expression`` in the page (promises are awaited)."""
        out = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression[:80]}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def click(self, x: float, y: float):
        """A real left click at viewport point (x, y), as a reader's mouse makes it."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=0 if kind == "mouseMoved" else 1)

    def screenshot(self, path: Path, clip: dict):
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False,
                         clip={**clip, "scale": 1})["data"]
        path.write_bytes(base64.b64decode(data))


# Every answer on a chapter page, found in the page: code cells hidden by MyST-NB's hide-cell
# (<div class="cell tag_solution tag_hide-cell"><details class="hide above-input"><summary>),
# and the dropdown admonitions of the prose solutions (sphinx-togglebutton hides their body).
# Each has one toggle and its parts: the code, every output (text and image), the prose.
ANSWERS_JS = r"""
window.__answers = () => {
  const cells = [...document.querySelectorAll('article div.cell.tag_hide-cell, article div.cell.tag_solution')];
  const drops = [...document.querySelectorAll('article div.admonition.dropdown')];
  return [
    ...cells.map(el => ({el, kind: el.classList.contains('tag_solution') ? 'code solution' : 'hidden cell',
      toggle: el.querySelector(':scope > details > summary'),
      parts: [...el.querySelectorAll('.cell_input, .cell_output .output, .cell_output img')]})),
    ...drops.map(el => ({el, kind: 'prose solution', toggle: el.querySelector(':scope > .admonition-title'),
      parts: [...el.children].filter(c => !c.classList.contains('admonition-title'))})),
  ];
};
// seen on the page by the reader: laid out with an area, not hidden, not transparent
window.__shown = e => e.checkVisibility({opacityProperty: true, visibilityProperty: true})
  && [...e.getClientRects()].some(r => r.width > 0 && r.height > 0)
  && (e.tagName !== 'IMG' || (e.complete && e.naturalWidth > 0));
window.__state = () => window.__answers().map(a => ({
  kind: a.kind,
  label: a.el.textContent.replace(/\s+/g, ' ').trim().replace(/^Show code cell \w+ Hide code cell \w+ /, '').slice(0, 70),
  classes: a.el.className,
  toggle: !!a.toggle,
  parts: a.parts.length,
  images: a.el.querySelectorAll('.cell_output img').length,
  texts: a.el.querySelectorAll('.cell_output .output:not(:has(img))').length,
  leaked: a.parts.flatMap(p => [p, ...p.querySelectorAll('*')]).filter(window.__shown)
    .map(e => e.tagName + '.' + e.className + ': ' + e.textContent.trim().slice(0, 40)).slice(0, 3),
  hidden: a.parts.filter(p => !window.__shown(p)).length,
}));
// scroll answer i's toggle to mid-screen; its centre, and whether a click there reaches it
window.__aim = i => {
  const t = window.__answers()[i].toggle;
  t.scrollIntoView({block: 'center'});
  const r = t.getBoundingClientRect(), x = r.left + Math.min(r.width / 2, 120), y = r.top + r.height / 2;
  return {x, y, hits: t.contains(document.elementFromPoint(x, y))};
};
// bring answer i to the top, with the exercise above it: its region on screen, page coordinates
window.__box = i => {
  const el = window.__answers()[i].el;
  el.scrollIntoView({block: 'start'});
  window.scrollBy(0, -140);
  const r = el.getBoundingClientRect(), top = Math.max(r.top - 140, 0);
  return {x: Math.max(r.left - 10, 0) + scrollX, y: top + scrollY, width: r.width + 20,
          height: Math.min(r.bottom + 20, innerHeight) - top};
};
"""


WIDGET = "application/vnd.jupyter.widget-view+json"   # a <script> on the page, nothing to see


def expected_answers(nb) -> list[tuple[str, int, bool]]:
    """(kind, images, prints) for every answer of a notebook, in page order within each kind."""
    cells, prose = [], []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and {"solution", "hide-cell"} & set(tags):
            data = [o.get("data", {}) for o in cell.get("outputs", [])]
            images = sum(any(k.startswith("image/") for k in d) for d in data)
            prints = any(o.output_type == "stream" for o in cell.get("outputs", [])) or any(
                ("text/plain" in d or "text/html" in d) and not any(k.startswith("image/") for k in d)
                and WIDGET not in d for d in data)
            cells.append(("code solution" if "solution" in tags else "hidden cell", images, prints))
        if cell.cell_type == "markdown":
            prose += [("prose solution", 0, False)] * len(
                re.findall(r"^:class:.*\bdropdown\b", cell.source, re.M))
    return cells + prose


def test_answers_hidden_until_one_click(site, tmp_path):
    """No answer shows before the reader clicks; one click on its toggle shows all of it.

    Measured on the page's layout in headless Chromium with its JavaScript running: every part
    of an answer (code, printed and drawn outputs, prose) has no visible box before the click,
    and each part has one after. Before/after shots land in _build/screenshots.
    """
    import nbformat
    browser = DevTools(chromium(), tmp_path / "cdp")
    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        for nb_path in sorted((ROOT / "book").glob("*.ipynb")):
            page = site / "book" / f"{nb_path.stem}.html"
            browser.open(page.as_uri())
            browser.js(ANSWERS_JS)
            want = expected_answers(nbformat.read(nb_path, as_version=4))
            before = browser.js("window.__state()")
            found = [(a["kind"], a["images"], a["texts"] > 0) for a in before]
            assert found == want, f"{page.name}: answers on the page {found} != notebook {want}"
            assert sum(k == "code solution" for k, *_ in found) > 0, page.name
            for a in before:
                where = f"{page.name}, {a['kind']} «{a['label']}»"
                assert a["toggle"] and a["parts"], f"{where}: no toggle or no content ({a['classes']})"
                assert not a["leaked"], f"{where}: visible before a click: {a['leaked']}"
                assert a["hidden"] == a["parts"], where
            first = {k: next(i for i, a in enumerate(before) if a["kind"] == k)
                     for k in {a["kind"] for a in before}}
            for i, a in enumerate(before):
                if i in first.values():                    # (a shot moves the page: shoot first)
                    box = browser.js(f"window.__box({i})")
                    browser.screenshot(shots / f"{page.stem}-{a['kind'].split()[0]}-before.png", box)
                aim = browser.js(f"window.__aim({i})")
                assert aim["hits"], f"{page.name}, «{a['label']}»: its toggle is covered"
                browser.click(aim["x"], aim["y"])
            deadline = time.monotonic() + 5                       # the toggles fade in (0.3 s)
            while True:
                after = browser.js("window.__state()")
                if all(a["hidden"] == 0 for a in after) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            for a in after:
                assert a["hidden"] == 0, \
                    f"{page.name}, {a['kind']} «{a['label']}»: {a['hidden']} of {a['parts']} parts " \
                    "still hidden after one click on its toggle"
            for kind, i in first.items():
                box = browser.js(f"window.__box({i})")
                browser.screenshot(shots / f"{page.stem}-{kind.split()[0]}-after.png", box)
    finally:
        browser.close()
