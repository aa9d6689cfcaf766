"""Quicklooks and an index.html for a folder of Prospectra outputs, for people without QGIS at hand.

Each styled raster is drawn as QGIS draws it: colours, stretch and classes come from the .qml sidecar the
algorithm wrote beside it (multiband min-max stretch, pseudocolour ramp, paletted classes), read with GDAL at
quicklook size. Demo tooling: GDAL, numpy and matplotlib only, no QGIS. The page is self-contained (inline CSS,
relative links), so the folder can be zipped and sent on."""
import html
import os
import urllib.parse
import xml.etree.ElementTree as ET

import matplotlib

matplotlib.use("Agg")  # no display on servers
import matplotlib.patheffects as effects  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from osgeo import gdal, ogr, osr  # noqa: E402

gdal.UseExceptions()
ogr.UseExceptions()
MAX_SIZE = 800  # px, either side
MIN_WIDTH = 480  # small rasters are enlarged by a whole factor so their pixels stay square and visible
QUICKLOOKS = "quicklooks"
SKIP = (".qml", ".aux.xml")  # QGIS side files, not results


def _hex(colour):
    colour = colour.lstrip("#")
    return [int(colour[i:i + 2], 16) for i in (0, 2, 4)]


def read_style(qml):
    """The renderer of a QGIS raster style as a dict; ValueError for renderers Prospectra never writes."""
    renderer = ET.parse(qml).getroot().find("pipe/rasterrenderer")
    kind = renderer.get("type") if renderer is not None else None
    if kind == "multibandcolor":
        channels = ("red", "green", "blue")
        cut = None  # only to say in the legend where min and max came from
        if renderer.findtext("minMaxOrigin/limits") == "CumulativeCut":
            cut = [100 * float(renderer.findtext("minMaxOrigin/" + k)) for k in ("cumulativeCutLower",
                                                                                "cumulativeCutUpper")]
        return {"kind": kind, "bands": [int(renderer.get(c + "Band")) for c in channels], "cut": cut,
                "ranges": [(float(renderer.findtext(c + "ContrastEnhancement/minValue")),
                            float(renderer.findtext(c + "ContrastEnhancement/maxValue"))) for c in channels]}
    if kind == "singlebandpseudocolor":
        shader = renderer.find("rastershader/colorrampshader")
        items = [(float(i.get("value")), i.get("color"), i.get("label") or i.get("value"))
                 for i in shader.findall("item")]
        return {"kind": kind, "bands": [int(renderer.get("band"))], "items": items,
                "ramp": shader.get("colorRampType"), "clip": shader.get("clip") == "1"}
    if kind == "paletted":
        classes = [(int(float(e.get("value"))), e.get("color"), e.get("label") or e.get("value"),
                    int(e.get("alpha", "255"))) for e in renderer.findall("colorPalette/paletteEntry")]
        return {"kind": kind, "bands": [int(renderer.get("band"))], "classes": classes}
    raise ValueError(f"{os.path.basename(qml)}: renderer '{kind}' is not drawn here")


def quicklook_size(width, height):
    """Small rasters enlarged by the whole factor that reaches MIN_WIDTH, all shrunk to fit MAX_SIZE."""
    longest = max(width, height)
    scale = MAX_SIZE / longest if longest > MAX_SIZE else min(-(-MIN_WIDTH // width), MAX_SIZE // longest)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _read(ds, band, size):
    """A band at quicklook size (nearest neighbour, as QGIS draws by default) and its nodata mask."""
    b = ds.GetRasterBand(band)
    data = b.ReadAsArray(buf_xsize=size[0], buf_ysize=size[1]).astype(np.float64)
    nodata = ~np.isfinite(data)
    if b.GetNoDataValue() is not None:
        nodata |= data == b.GetNoDataValue()
    return data, nodata


def render(style, ds, size):
    """RGBA uint8 image of the raster as the style colours it; nodata and unlisted classes transparent."""
    rgba = np.zeros((size[1], size[0], 4), np.uint8)
    if style["kind"] == "multibandcolor":
        hidden = np.zeros(rgba.shape[:2], bool)
        for channel, (band, (lo, hi)) in enumerate(zip(style["bands"], style["ranges"])):
            data, nodata = _read(ds, band, size)
            rgba[..., channel] = np.clip((data - lo) / ((hi - lo) or 1) * 255, 0, 255)  # truncated, as QGIS does
            hidden |= nodata  # QGIS leaves a pixel transparent if any of its three bands is nodata
        rgba[..., 3] = np.where(hidden, 0, 255)
        return rgba
    data, nodata = _read(ds, style["bands"][0], size)
    if style["kind"] == "paletted":
        for value, colour, _, alpha in style["classes"]:
            rgba[(data == value) & ~nodata] = _hex(colour) + [alpha]
        return rgba
    values = np.array([v for v, _, _ in style["items"]])
    colours = np.array([_hex(c) for _, c, _ in style["items"]], float)
    shown = ~nodata
    if style["ramp"] == "INTERPOLATED":
        for channel in range(3):  # np.interp holds the end colours beyond the ends, as QGIS does unless clipped
            rgba[..., channel] = np.interp(data, values, colours[:, channel]).round()
        if style["clip"]:
            shown &= (data >= values[0]) & (data <= values[-1])
    else:  # DISCRETE: an item's colour covers values up to its value; EXACT: only its value
        index = np.searchsorted(values, data, side="left")
        shown &= index < len(values)
        index = np.minimum(index, len(values) - 1)
        if style["ramp"] == "EXACT":
            shown &= data == values[index]
        rgba[..., :3] = colours[index]
    rgba[..., 3] = np.where(shown, 255, 0)
    return rgba


def _vector_rings(path, ds, size):
    """(pixel-coordinate rings, attributes) of every feature of a vector layer, in the raster's CRS."""
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    sx, sy = size[0] / ds.RasterXSize, size[1] / ds.RasterYSize
    target = osr.SpatialReference(wkt=ds.GetProjection())
    features = []
    source = ogr.Open(path)  # GDAL 3.6 datasets are no context managers
    layer = source.GetLayer(0)
    transform = None
    # an ungeoreferenced raster has no CRS to transform into: its layers are drawn on its pixel grid
    if ds.GetProjection() and layer.GetSpatialRef() is not None and not layer.GetSpatialRef().IsSame(target):
        crs = layer.GetSpatialRef().Clone()
        for srs in (crs, target):  # x, y order whatever the CRS's axis order says
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        transform = osr.CoordinateTransformation(crs, target)
    for f in layer:
        geometry = f.GetGeometryRef()
        if geometry is None:
            continue
        if transform is not None:
            geometry.Transform(transform)
        rings = []
        for part in ([geometry] if geometry.GetGeometryCount() == 0 else
                     [geometry.GetGeometryRef(i) for i in range(geometry.GetGeometryCount())]):
            for ring in ([part] if part.GetGeometryCount() == 0 else
                         [part.GetGeometryRef(i) for i in range(part.GetGeometryCount())]):
                if ring.GetPointCount() < 2:
                    continue
                xy = np.array(ring.GetPoints(), float)[:, :2]
                rings.append(np.column_stack([(xy[:, 0] - x0) / dx * sx, (xy[:, 1] - y0) / dy * sy]))
        features.append((rings, f.items()))
    return features


def save_png(rgba, png, overlays=()):
    """The image at exactly its own pixel size, with vector layers outlined (and named if their names are
    unique, as anomaly zones are) over it."""
    h, w = rgba.shape[:2]
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
    fig.figimage(rgba, origin="upper")  # pixel for pixel: imshow would resample and shift columns
    ax = fig.add_axes((0, 0, 1, 1), zorder=1)  # above the image, which a figure draws after its axes
    ax.patch.set_alpha(0)
    halo = [effects.withStroke(linewidth=2.5, foreground="white")]
    for features in overlays:
        names = [next((v for v in attrs.values() if isinstance(v, str)), None) for _, attrs in features]
        label = len(set(names)) == len(names) and None not in names
        for (rings, _), name in zip(features, names):
            for ring in rings:
                ax.plot(ring[:, 0], ring[:, 1], color="black", linewidth=1, path_effects=halo)
            if label and rings:
                ax.text(*rings[0].mean(axis=0), name, ha="center", va="center", fontsize=9, fontweight="bold",
                        path_effects=halo)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    fig.savefig(png, dpi=100, transparent=True)
    plt.close(fig)


def quicklook(tif, png, vectors=()):
    """Draw tif as its .qml styles it into png, vectors outlined over it; returns the legend as HTML."""
    style = read_style(os.path.splitext(tif)[0] + ".qml")
    ds = gdal.Open(tif)
    size = quicklook_size(ds.RasterXSize, ds.RasterYSize)
    save_png(render(style, ds, size), png, [_vector_rings(v, ds, size) for v in vectors])
    names = [ds.GetRasterBand(b).GetDescription() or f"band {b}" for b in style["bands"]]
    share = {}
    if style["kind"] == "paletted":  # each class's share of the quicklook's valid pixels
        data, nodata = _read(ds, style["bands"][0], size)
        values, counts = np.unique(data[~nodata], return_counts=True)
        share = {int(v): 100 * c / max(counts.sum(), 1) for v, c in zip(values, counts)}
    return legend(style, names, share)


def legend(style, band_names, share):
    """HTML legend: band ranges of a composite, classes with their share of the map, or a colour bar."""
    e = html.escape
    if style["kind"] == "multibandcolor":
        cut = f", the {style['cut'][0]:g}-{style['cut'][1]:g} % cumulative cut" if style["cut"] else ""
        rows = "".join(f'<tr><td><span class="sw" style="background:{c}"></span>{e(n)}</td>'
                       f'<td>{lo:.4g} &ndash; {hi:.4g}</td></tr>'
                       for c, n, (lo, hi) in zip(("#e00", "#0a0", "#00e"), band_names, style["ranges"]))
        return (f'<table class="legend"><tr><th colspan="2">R, G, B stretched min &ndash; max{cut}</th></tr>'
                f'{rows}</table>')
    if style["kind"] == "paletted":  # classes on the map in the table, the others named below it
        rows = "".join(f'<tr><td><span class="sw" style="background:{c}"></span>{e(label)}</td><td>{value}</td>'
                       f'<td>{share[value]:.1f} %</td></tr>'
                       for value, c, label, _ in style["classes"] if value in share)
        absent = [label for value, _, label, _ in style["classes"] if value not in share]
        return (f'<table class="legend"><tr><th>{e(band_names[0])}</th><th>value</th><th>of map</th></tr>{rows}'
                f'</table>' + (f'<p class="kind">not on the map: {e(", ".join(absent))}</p>' if absent else ""))
    values = [v for v, _, _ in style["items"]]
    span = (values[-1] - values[0]) or 1
    stops = ", ".join(f"{c} {100 * (v - values[0]) / span:.1f}%" for v, c, _ in style["items"])
    bar = "linear-gradient(to right, " + stops + ")" if style["ramp"] == "INTERPOLATED" else \
        "linear-gradient(to right, " + ", ".join(f"{c} {100 * i / len(values):.1f}% {100 * (i + 1) / len(values):.1f}%"
                                                  for i, (_, c, _) in enumerate(style["items"])) + ")"
    ticks = "".join(f"<span>{e(label)}</span>" for _, _, label in style["items"])
    return (f'<div class="legend"><b>{e(band_names[0])}</b><div class="ramp" style="background:{bar}"></div>'
            f'<div class="ticks">{ticks}</div></div>')


def vector_summary(path):
    """'N features' and a small table of their text fields (and of their numbers when they are few)."""
    source = ogr.Open(path)  # kept in a name: its layer dies with it
    rows = [f.items() for f in source.GetLayer(0)]
    if not rows:
        return "<p>0 features</p>"
    text = [k for k, v in rows[0].items() if isinstance(v, str)]
    numbers = [k for k, v in rows[0].items() if isinstance(v, (int, float))]
    columns = text + (numbers if len(numbers) <= 5 else [])

    def cell(v):  # areas in m2 in full, other numbers to 4 digits
        return (f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}") if isinstance(v, float) else html.escape(str(v))

    body = "".join("<tr>" + "".join(f"<td>{cell(r[c])}</td>" for c in columns) + "</tr>" for r in rows[:12])
    more = f"<p>... and {len(rows) - 12} more</p>" if len(rows) > 12 else ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    return f"<p>{len(rows)} feature{'s' * (len(rows) != 1)}</p><table><tr>{head}</tr>{body}</table>{more}"


def siblings(path):
    """Files an HTML report writes beside itself under its name: its JSON, its PNG figures."""
    folder, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    if ext != ".html":
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f != name and not f.endswith(SKIP) and
                  (os.path.splitext(f)[0] == stem or (f.startswith(stem + "_") and f.endswith(".png"))))


KINDS = {".tif": "GeoTIFF, full resolution", ".html": "report", ".json": "report data (JSON)", ".csv": "table (CSV)",
         ".png": "figure", ".gpkg": "vector layer (GeoPackage)", ".onnx": "model (ONNX)"}


def _link(path, folder):
    href = urllib.parse.quote(os.path.relpath(path, folder).replace(os.sep, "/"))
    kind = KINDS.get(os.path.splitext(path)[1].lower(), "file")
    return f'<a href="{href}">{html.escape(os.path.basename(path))}</a> <span class="kind">{kind}</span>'


def section_html(section, folder, number, seen):
    """One step: title, meaning, quicklooks with legends, embedded figures, reports, links; problems in red.
    Files in seen (shown by an earlier step) are left out; this step's are added to it."""
    e = html.escape
    files = []
    for f in section["files"]:
        for g in [f] + (siblings(f) if os.path.exists(f) else []):
            if g not in seen:
                seen.add(g)
                files.append(g)
    present = [f for f in files if os.path.exists(f)]
    vectors = [f for f in present if f.endswith(".gpkg")]
    parts = [f'<section id="s{number}"><h2>{number}. {e(section["title"])}</h2>',
             f'<p class="meaning">{e(section["meaning"])}</p>']
    if section.get("about"):
        parts.append(f'<p class="about">{e(section["about"])}</p>')
    if section.get("agreement"):
        parts.append(f'<p class="agreement">{e(section["agreement"])}</p>')
    if section.get("error"):
        parts.append(f'<p class="problem">The step failed: <code>{e(section["error"])}</code></p>')
    missing = [f for f in files if f not in present]
    if missing:
        parts.append('<p class="problem">Missing: ' + ", ".join(e(os.path.basename(f)) for f in missing) + "</p>")
    figures, drawn_over, pictured = [], False, set()
    for f in present:
        stem, ext = os.path.splitext(os.path.basename(f))
        if ext == ".tif" and os.path.exists(os.path.splitext(f)[0] + ".qml"):
            png = os.path.join(folder, QUICKLOOKS, stem + ".png")
            try:  # vectors go over the first map of the step
                key = quicklook(f, png, [] if drawn_over else vectors)
            except Exception as error:  # one bad style must not lose the rest of the page
                figures.append(f'<p class="problem">No quicklook of {e(stem + ext)}: {e(str(error))}</p>')
                continue
            over = "" if drawn_over or not vectors else \
                "<p>outlined: " + ", ".join(e(os.path.basename(v)) for v in vectors) + "</p>"
            drawn_over = True
            pictured.add(f)
            figures.append(f'<figure><img src="{QUICKLOOKS}/{urllib.parse.quote(stem)}.png" alt="{e(stem)}">'
                           f'<figcaption>{_link(f, folder)}{over}{key}</figcaption></figure>')
        elif ext == ".png":
            pictured.add(f)
            figures.append(f'<figure><img src="{urllib.parse.quote(stem + ext)}" alt="{e(stem)}">'
                           f'<figcaption>{_link(f, folder)}</figcaption></figure>')
    parts.append('<div class="maps">' + "".join(figures) + "</div>")
    for f in present:  # reports readable in place; open at once where the step has no map to show
        if f.endswith(".html"):
            parts.append(f'<details{"" if figures else " open"}><summary>{e(os.path.basename(f))} here</summary>'
                         f'<iframe src="{urllib.parse.quote(os.path.basename(f))}" title="{e(f)}"></iframe></details>')
    items = []
    for f in present:
        if f in pictured:  # its link is under its picture
            continue
        extra = ""
        if f.endswith(".gpkg"):
            extra = vector_summary(f)
        elif f.endswith(".tif") and not os.path.exists(os.path.splitext(f)[0] + ".qml"):
            ds = gdal.Open(f)  # unstyled multiband rasters: say what each band holds
            bands = [ds.GetRasterBand(b + 1).GetDescription() or str(b + 1) for b in range(ds.RasterCount)]
            extra = f' <span class="kind">({len(bands)} bands: {e(", ".join(bands))}; no style)</span>'
        items.append(f"<li>{_link(f, folder)}{extra}</li>")
    parts.append(("<ul>" + "".join(items) + "</ul>" if items else "") + "</section>")
    return "".join(parts)


CSS = """body{font:15px/1.45 sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}
section{border-top:1px solid #ccc;margin-top:1.5em}.meaning{font-size:1.05em;background:#f3f6ef;padding:.5em}
.maps{display:flex;flex-wrap:wrap;gap:1.5em}figure{margin:0;max-width:800px;display:flex;flex-wrap:wrap;
gap:.3em 1em;align-items:flex-start}figcaption{min-width:240px}
iframe{width:100%;height:600px;border:1px solid #bbb}summary{cursor:pointer;margin:.5em 0}
figure img{max-width:100%;image-rendering:pixelated;border:1px solid #bbb;
background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0 0/16px 16px}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
.sw{display:inline-block;width:1em;height:1em;margin-right:.4em;vertical-align:middle;border:1px solid #888}
.ramp{height:14px;width:320px;border:1px solid #888}.ticks{display:flex;justify-content:space-between;width:320px;
font-size:.8em}.kind,.about{color:#666;font-size:.9em}.problem{color:#b00;font-weight:bold}
.agreement{background:#eef3fa;padding:.4em;font-weight:bold}"""


def write_index(folder, sections, title="Prospectra demo", intro=""):
    """index.html in folder for sections (dicts: title, meaning, files; optional error, seconds). Files not in
    any section are listed at the end, so nothing written is hidden. Returns the index's path."""
    folder = os.path.abspath(folder)
    looks = os.path.join(folder, QUICKLOOKS)
    os.makedirs(looks, exist_ok=True)
    for old in os.listdir(looks):  # a quicklook of an earlier run must not outlive its raster
        os.remove(os.path.join(looks, old))
    shown = set()
    bodies = [section_html(section, folder, number, shown) for number, section in enumerate(sections, 1)]
    contents = "".join(
        f'<li><a href="#s{i}">{html.escape(s["title"])}</a>'
        + (f' <span class="kind">{s["seconds"]:.1f} s</span>' if s.get("seconds") is not None else "")
        + (' <span class="problem">failed</span>' if s.get("error") else "") + "</li>"
        for i, s in enumerate(sections, 1))
    rest = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if os.path.isfile(os.path.join(folder, f)) and os.path.join(folder, f) not in shown
                  and not f.endswith(SKIP) and f != "index.html")
    if rest:
        bodies.append("<section><h2>Other files</h2><ul>" +
                      "".join(f"<li>{_link(f, folder)}</li>" for f in rest) + "</ul></section>")
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>{intro}<ol>{contents}</ol>"
            + "".join(bodies) + "</body></html>")
    path = os.path.join(folder, "index.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
