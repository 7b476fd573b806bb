"""The book's results, read back from the chapters' stored outputs.

A chapter marks the cell that trains its headline model with the cell tag ``result:NAME``
(e.g. ``result:LeNet``). ``book_results`` parses that cell's final line and run stamp, so a
summary table or chart never holds a number that no chapter produced.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

FINAL = re.compile(r"train loss ([\d.]+), train acc ([\d.]+), test acc ([\d.]+), "
                   r"([\d,]+) examples/s on (.+)")
STAMP = re.compile(r"run stamp: device (.+?); scale (\w+);.*?model ([\d,]+) params")


def _text(cell: dict) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append("".join(o["text"]) if isinstance(o["text"], list) else o["text"])
    return "".join(out)


def book_results(book_dir: str | Path) -> list[dict]:
    """One dict per tagged result: model, chapter, test_acc, examples_per_sec, device, scale,
    params (of the model as trained, e.g. at the cpu scale's image size)."""
    rows = []
    for path in sorted(Path(book_dir).glob("*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            names = [t.split(":", 1)[1] for t in cell.get("metadata", {}).get("tags", [])
                     if t.startswith("result:")]
            if not names:
                continue
            text = _text(cell)
            final, stamp = FINAL.findall(text), STAMP.findall(text)
            if not final or not stamp:
                raise ValueError(
                    f"{path.name}: the cell tagged result:{names[0]} has no final line and run "
                    "stamp in its stored output (it must print utils.fit's report); re-execute "
                    "the chapter or remove the tag")
            loss, train_acc, test_acc, rate, device = final[-1]
            rows.append({"model": names[0], "chapter": path.stem, "test_acc": float(test_acc),
                         "train_acc": float(train_acc),
                         "examples_per_sec": int(rate.replace(",", "")),
                         "device": device.strip(), "scale": stamp[-1][1],
                         "params": int(stamp[-1][2].replace(",", ""))})
    return rows
