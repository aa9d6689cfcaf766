"""Small HTML reports (tables and PNG plots inside one self-contained file) and their JSON / CSV companions,
each written under a temporary name and renamed when complete, so a failed run leaves no half file."""
import base64
import html
import io
import json
import os

import numpy as np

from ..io.outputs import write_file

STYLE = ("body{font-family:sans-serif;max-width:60em;margin:1em auto;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.2em .6em;text-align:right}"
         "th{background:#eee}td.l,th.l{text-align:left}.note{color:#555;font-size:90%}img{max-width:100%}")


def jsonable(v):
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None  # JSON has no NaN
    return v


def esc(text):
    return html.escape(str(text))


def table(header, rows, left=1):
    """HTML table; the first `left` columns are left-aligned (names), the rest right-aligned (numbers)."""
    def cells(row, tag):
        return "".join(f"<{tag}{' class=l' if i < left else ''}>{c}</{tag}>" for i, c in enumerate(row))
    return ("<table><tr>" + cells(header, "th") + "</tr>"
            + "".join("<tr>" + cells(r, "td") + "</tr>" for r in rows) + "</table>")


def figure():
    """matplotlib's pyplot (off-screen), or None if matplotlib is not installed: reports then go without plots."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        return None
    return plt


NO_PLOT = "<p class=note>(plot left out: the Python package matplotlib is not installed)</p>"


def png(fig, alt):
    """The figure as an <img> with the PNG inline, so the report is one file to keep or mail."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    figure().close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<p><img alt="{esc(alt)}" src="data:image/png;base64,{data}"></p>'


def page(title, body):
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>{body}</body></html>")


def write_json(path, data):
    write_file(path, json.dumps(jsonable(data), indent=2, allow_nan=False))


def json_path(html_path):
    """The JSON written beside an HTML report."""
    return os.path.splitext(html_path)[0] + ".json"


def fmt(v, digits=4):
    """A number for a table: 4 significant digits, '-' when missing."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{v:.{digits}g}"
