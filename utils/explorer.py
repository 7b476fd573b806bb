"""The convolution explorer: which input cells feed each output cell, and what a kernel does.

Three views of one convolution (kernel size k, stride s, zero padding p, dilation d), each for
a different reader:

* ``explorer_html`` - an HTML + JavaScript widget for the static site: no kernel, no server,
  no external files. Sliders change n, k, s, p, d; the output cells are visited in turn and the
  input cells (zero padding included) that feed each one light up.
* ``explorer_widget`` - for readers running the notebook: a real ``F.conv2d`` on a real photo,
  redrawn by ipywidgets whenever a control moves (``show_explorer`` displays it).
* ``draw`` - the same picture as a static matplotlib figure (the book's stride/padding plots).

Every view uses one formula for the output size along an axis (PyTorch's)::

    floor((n + 2p - d(k-1) - 1) / s) + 1

Nothing runs on import; ipywidgets is imported only by ``explorer_widget``.
"""
from __future__ import annotations

import json
import math
import os
import uuid

import torch
import torch.nn.functional as F

LIMITS = {"n": (3, 12), "k": (1, 7), "s": (1, 4), "p": (0, 4), "d": (1, 4)}  # slider ranges


def output_size(*, n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output length along one axis, as ``nn.Conv2d`` computes it (0 if the kernel does not fit)."""
    return max((n + 2 * p - d * (k - 1) - 1) // s + 1, 0)


def window(*, i: int, k: int, s: int = 1, d: int = 1) -> list[int]:
    """Padded-input indices read by output index ``i``: the taps i*s + u*d for u < k."""
    return [i * s + u * d for u in range(k)]


def gaussian_kernel(*, size: int, sigma: float) -> torch.Tensor:
    """A sampled, normalised 2D Gaussian G(x, y) ~ exp(-(x^2 + y^2) / (2 sigma^2))."""
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def kernels() -> dict[str, torch.Tensor]:
    """Named 2D kernels for the demos: the slides' Gaussian, Laplacian and edge filters, Sobel."""
    t = lambda rows: torch.tensor(rows, dtype=torch.float32)  # noqa: E731
    return {
        "identity": t([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
        "box blur 3x3": torch.full((3, 3), 1 / 9),
        "Gaussian 3x3": t([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
        "Gaussian 7x7 (sigma 2)": gaussian_kernel(size=7, sigma=2.0),
        "Laplacian": t([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
        "slides' edge": t([[0, 1, 1], [-1, 0, 1], [-1, -1, 0]]),
        "Sobel x": t([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
        "Sobel y": t([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
        "sharpen": t([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    }


def draw(*, n: int, k: int, s: int = 1, p: int = 0, d: int = 1, unit=(0, 0), ax=None,
         title: str | None = None):
    """Padded input (grey = zero padding) with the cells feeding output ``unit`` marked, and
    the output grid beside it: the static form of the explorer, for printed figures."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    m, o = n + 2 * p, output_size(n=n, k=k, s=s, p=p, d=d)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.32 * (m + o + 2), 0.32 * max(m, o) + 0.5))
    rows, cols = window(i=unit[0], k=k, s=s, d=d), window(i=unit[1], k=k, s=s, d=d)
    for r in range(m):
        for c in range(m):
            pad = not (p <= r < p + n and p <= c < p + n)
            tap = r in rows and c in cols
            face = "#f4a261" if tap else ("#e9e9e9" if pad else "white")
            ax.add_patch(Rectangle((c, -r), 1, -1, fc=face, ec="#999" if pad else "#444",
                                   ls="--" if pad else "-", lw=0.8))
            if pad:
                ax.text(c + 0.5, -r - 0.5, "0", ha="center", va="center", fontsize=6,
                        color="#888")
    x0 = m + 1.5
    for r in range(o):
        for c in range(o):
            face = "#4c8bf5" if (r, c) == tuple(unit) else "#dbe7fd"
            ax.add_patch(Rectangle((x0 + c, -r), 1, -1, fc=face, ec="#444", lw=0.8))
    ax.text(m / 2, -m - 0.3, "input, padded" if p else "input", ha="center", va="top", fontsize=8)
    ax.text(x0 + o / 2, -o - 0.3, "output", ha="center", va="top", fontsize=8)
    ax.set_xlim(-0.2, x0 + max(o, 1) + 0.2)
    ax.set_ylim(-max(m, o) - 1.3, 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"k={k}, s={s}, p={p}, d={d}: {n}x{n} -> {o}x{o}", fontsize=9)
    return ax


_CSS = """
#{uid} {{font: 14px/1.4 system-ui, sans-serif; border: 1px solid #ccc; border-radius: 6px;
        padding: 10px; margin: 8px 0; max-width: 720px;}}
#{uid} .ce-controls {{display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: center;}}
#{uid} .ce-controls label {{white-space: nowrap;}}
#{uid} .ce-controls input {{vertical-align: middle; width: 90px;}}
#{uid} .ce-panels {{display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start;
                   margin-top: 8px;}}
#{uid} .ce-formula {{margin-top: 6px; font-family: ui-monospace, monospace;}}
#{uid} .ce-note {{color: #555; font-size: 12px; margin-top: 4px;}}
"""

# The arithmetic, kept apart from the drawing so the tests can run it under node.
_JS_MATH = """
function convOut(n, k, s, p, d) { return Math.max(Math.floor((n + 2*p - d*(k-1) - 1) / s) + 1, 0); }
function convTaps(i, k, s, d) { var t = []; for (var u = 0; u < k; u++) t.push(i*s + u*d); return t; }
"""

_JS_VIEW = """
(function () {
  var root = document.getElementById(__UID__);
  if (!root) return;
  var st = __STATE__, cur = 0, timer = null, NS = "http://www.w3.org/2000/svg";
  function q(c) { return root.querySelector("." + c); }
  function rect(svg, x, y, c, fill, stroke, dash, title) {
    var r = document.createElementNS(NS, "rect");
    r.setAttribute("x", x); r.setAttribute("y", y); r.setAttribute("width", c);
    r.setAttribute("height", c); r.setAttribute("fill", fill); r.setAttribute("stroke", stroke);
    if (dash) r.setAttribute("stroke-dasharray", "3,2");
    svg.appendChild(r); return r;
  }
  function label(svg, x, y, text, size) {
    var t = document.createElementNS(NS, "text");
    t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("font-size", size);
    t.setAttribute("text-anchor", "middle"); t.setAttribute("dominant-baseline", "central");
    t.setAttribute("fill", "#888"); t.textContent = text; svg.appendChild(t);
  }
  function svgBox(host, m, c) {
    host.innerHTML = "";
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("width", m * c + 2); svg.setAttribute("height", m * c + 2);
    host.appendChild(svg); return svg;
  }
  function render() {
    var n = st.n, k = st.k, s = st.s, p = st.p, d = st.d, m = n + 2*p;
    var o = convOut(n, k, s, p, d), span = d*(k-1) + 1;
    q("conv-explorer-formula").textContent =
      "floor((n + 2p - d(k-1) - 1)/s) + 1 = floor((" + n + " + 2*" + p + " - " + d + "*(" +
      k + "-1) - 1)/" + s + ") + 1";
    q("conv-explorer-out").textContent = String(o);
    root.setAttribute("data-out", String(o));
    var note = q("ce-note"), read = {}, skipped = 0;
    if (o === 0) {
      note.textContent = "No output: the dilated kernel spans " + span + " cells but the padded " +
        "input has only " + m + ".";
    } else {
      for (var a = 0; a < o; a++) convTaps(a, k, s, d).forEach(function (t) { read[t] = 1; });
      for (var b = 0; b < m; b++) if (!read[b]) skipped += 1;
      note.textContent = "Output " + o + "x" + o + ". Orange: the " + k + "x" + k + " taps of the " +
        "dilated kernel (span d(k-1)+1 = " + span + ") for the dark blue output cell." +
        (p ? " Grey dashed cells are zero padding." : "") + (skipped ? " Pink cells are never " +
        "read by any output (" + skipped + " row(s)/column(s) skipped by stride or dilation)." : "") +
        " Hover over an output cell to pin it; play resumes the tour.";
    }
    if (o === 0) { q("ce-in").innerHTML = ""; q("ce-outgrid").innerHTML = ""; return; }
    cur = cur % (o * o);
    var oi = Math.floor(cur / o), oj = cur % o, rows = convTaps(oi, k, s, d),
        cols = convTaps(oj, k, s, d), c = Math.max(10, Math.min(26, Math.floor(300 / m)));
    var svg = svgBox(q("ce-in"), m, c);
    for (var r = 0; r < m; r++) for (var cc = 0; cc < m; cc++) {
      var pad = r < p || r >= p + n || cc < p || cc >= p + n;
      var tap = rows.indexOf(r) >= 0 && cols.indexOf(cc) >= 0;
      var fill = tap ? "#f4a261" : (!(read[r] && read[cc]) ? "#fbe1e1" : (pad ? "#eeeeee" : "#ffffff"));
      rect(svg, cc*c + 1, r*c + 1, c, fill, pad ? "#999" : "#444", pad);
      if (pad && c >= 14) label(svg, cc*c + 1 + c/2, r*c + 1 + c/2, "0", Math.floor(c/2));
    }
    var osvg = svgBox(q("ce-outgrid"), o, c);
    for (var i = 0; i < o; i++) for (var j = 0; j < o; j++) (function (i, j) {
      var cell = rect(osvg, j*c + 1, i*c + 1, c, (i === oi && j === oj) ? "#4c8bf5" : "#dbe7fd", "#444");
      cell.style.cursor = "pointer";
      cell.addEventListener("mouseenter", function () { stop(); cur = i*o + j; render(); });
    })(i, j);
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; } q("ce-play").textContent = "play"; }
  function play() {
    stop(); q("ce-play").textContent = "pause";
    timer = setInterval(function () { cur += 1; render(); }, 800);
  }
  root.querySelectorAll("input[data-key]").forEach(function (inp) {
    var show = function () { inp.nextElementSibling.textContent = inp.value; };
    inp.addEventListener("input", function () { st[inp.dataset.key] = +inp.value; cur = 0; show(); render(); });
    show();
  });
  q("ce-play").addEventListener("click", function () { if (timer) stop(); else play(); });
  render();
  if (st.animate) play();
})();
"""


def explorer_html(*, n: int = 5, k: int = 3, s: int = 1, p: int = 0, d: int = 1,
                  animate: bool = True) -> str:
    """A self-contained HTML explorer (inline CSS and JS only) that also works on the static
    site; display it with ``IPython.display.HTML``. Every call gets fresh element ids, so two
    explorers on one page do not fight over their controls."""
    state = {"n": n, "k": k, "s": s, "p": p, "d": d}
    for key, (lo, hi) in LIMITS.items():
        if not lo <= state[key] <= hi:
            raise ValueError(f"{key}={state[key]} is outside the explorer's range {lo}..{hi}")
    uid = f"conv-explorer-{uuid.uuid4().hex[:12]}"
    names = {"n": "input n", "k": "kernel k", "s": "stride s", "p": "padding p",
             "d": "dilation d"}
    sliders = "".join(
        f'<label>{names[key]} <input type="range" min="{lo}" max="{hi}" value="{state[key]}" '
        f'data-key="{key}"><b></b></label>' for key, (lo, hi) in LIMITS.items())
    state["animate"] = bool(animate)
    script = (_JS_MATH + _JS_VIEW).replace("__UID__", json.dumps(uid)).replace(
        "__STATE__", json.dumps(state))
    return (f'<div class="conv-explorer" id="{uid}"><style>{_CSS.format(uid=uid)}</style>'
            f'<div class="ce-controls">{sliders}<button type="button" class="ce-play">play'
            f'</button></div>'
            f'<div class="ce-formula">output size = <span class="conv-explorer-formula"></span>'
            f' = <b class="conv-explorer-out">?</b></div>'
            f'<div class="ce-panels"><div class="ce-in"></div><div class="ce-outgrid"></div>'
            f'</div><div class="ce-note">This explorer needs JavaScript.</div></div>'
            f"<script>{script}</script>")


def _gray(image, size: int) -> torch.Tensor:
    """Any photo (H x W, H x W x 3, uint8 or float) as a [1, 1, size, size] float in [0, 1]."""
    x = torch.as_tensor(image).float()
    if x.ndim == 3:
        x = x[..., :3].mean(-1)
    if x.max() > 1:
        x = x / 255
    x = x[None, None]
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False).clamp(0, 1)


def explorer_widget(image, *, size: int = 128, bank: dict | None = None):
    """Sliders and a kernel menu that re-run a real ``F.conv2d`` on ``image`` and redraw input,
    kernel and output (needs a live kernel). ``size`` keeps the redraw quick. Returns the
    ``ipywidgets.interactive`` box; its ``.result`` is the last output tensor."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    x, bank = _gray(image, size), bank or kernels()

    def show(kernel, stride, padding, dilation):
        w = bank[kernel][None, None]
        k = w.shape[-1]
        y = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), width_ratios=[3, 1.2, 3])
        axes[0].imshow(F.pad(x, [padding] * 4)[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        span = dilation * (k - 1) + 1
        axes[0].add_patch(Rectangle((-0.5, -0.5), span, span, fill=False, ec="orange", lw=2))
        axes[0].set_title(f"input {size}x{size}, padded to {size + 2 * padding}", fontsize=9)
        lim = w.abs().max().item()
        axes[1].imshow(w[0, 0].numpy(), cmap="coolwarm", vmin=-lim, vmax=lim)
        if k <= 5:
            for (r, c), v in zip(torch.cartesian_prod(torch.arange(k), torch.arange(k)).tolist(),
                                 w[0, 0].flatten().tolist()):
                axes[1].text(c, r, f"{v:.2g}", ha="center", va="center", fontsize=7)
        axes[1].set_title(f"kernel {k}x{k}", fontsize=9)
        axes[2].imshow(y[0, 0].numpy(), cmap="gray")
        axes[2].set_title(f"output {y.shape[-2]}x{y.shape[-1]} = floor(({size} + 2*{padding} - "
                          f"{dilation}*{k - 1} - 1)/{stride}) + 1", fontsize=9)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        plt.show()
        return y

    return widgets.interactive(
        show, kernel=widgets.Dropdown(options=list(bank), value=list(bank)[0]),
        stride=widgets.IntSlider(value=1, min=1, max=4),
        padding=widgets.IntSlider(value=0, min=0, max=8),
        dilation=widgets.IntSlider(value=1, min=1, max=4))


def show_explorer(image, *, size: int = 128, bank: dict | None = None):
    """Display ``explorer_widget`` for a reader with a live kernel. Under the book's executor
    (``CNN_BOOK_PROGRESS=text``, which stores outputs for the static site) a widget would be
    stored as an empty box, so it prints how to get the explorer instead and returns None."""
    if os.environ.get("CNN_BOOK_PROGRESS") == "text":
        print("Run this notebook (Jupyter or Colab) to get the live explorer here.")
        return None
    from IPython.display import display

    box = explorer_widget(image, size=size, bank=bank)
    display(box)
    return box
