"""A class map checked against reference sites on the ground: the confusion matrix, overall accuracy, Cohen's
kappa and each class's precision (user's accuracy), recall (producer's accuracy) and F1 (Congalton 1991; Stehman
& Foody 2019), with every site accounted for.

Reference classes meet map classes by value (an integer class field) or by name (a text field against the map's
class names, which Prospectra writes into its class rasters as GDAL categories). A map class that stands for a
group of minerals ('Alunite / Kaolinite', as SAM names classes the sensor cannot tell apart) is right for each of
them: the map says no more than the group, so a site of any of them mapped to the group is agreement, and those
reference classes are assessed as one (so is a class named twice in different case). Kappa is Cohen's on that
matrix.

The reference is either sites (assess_map) or a class raster on the map's grid, compared pixel by pixel
(assess_map_on_raster); both count pixels per (reference class, map value) pair, and one function builds the
report from those counts."""
import os
from dataclasses import dataclass

import numpy as np
from osgeo import osr

from ..errors import Canceled, InputError
from ..io.blocks import bounded_cache, class_names, stepped, windows
from ..io.image import FILL_VALUES, open_raster
from ..io.outputs import OutputTransaction, write_file
from ..learning.training_samples import Classes, extract_samples, fits_class_raster
from .geochem_report import esc, fmt, json_path, page, table, write_json

REFERENCES = [
    "Congalton R.G. (1991). A review of assessing the accuracy of classifications of remotely sensed data. Remote "
    "Sensing of Environment 37, 35-46 (error matrix, user's and producer's accuracy, kappa).",
    "Cohen J. (1960). A coefficient of agreement for nominal scales. Educational and Psychological Measurement 20, "
    "37-46.",
    "Stehman S.V., Foody G.M. (2019). Key issues in rigorous accuracy assessment of land cover products. Remote "
    "Sensing of Environment 231, 111199 (reference sites not chosen at random, pixels of one site not "
    "independent).",
    "Olofsson P., Foody G.M., Herold M., Stehman S.V., Woodcock C.E., Wulder M.A. (2014). Good practices for "
    "estimating area and assessing accuracy of land change. Remote Sensing of Environment 148, 42-57 (estimators "
    "for a sample stratified by map class: accuracy and area with their standard errors).",
]
GROUP_SEPARATOR = " / "  # how a map class that stands for several minerals joins their names
# More distinct values than any legend of minerals or rock units holds: a continuous raster (a DEM, a band, a
# content map stored as integers). Scoring one against a reference raster would build a matrix of values x values.
MAX_RASTER_CLASSES = 1000


class ClassMap:
    """Band 1 of a class raster as extract_samples reads it (its grid, and its values, nodata left out), with the
    class names the raster carries."""
    dtype = np.float64  # every int32 class value exactly, and decimals, which are refused

    def __init__(self, path, parameter="MAP"):
        self.path, self.parameter = path, parameter
        self.ds = open_raster(path, parameter)
        self.band = self.ds.GetRasterBand(1)
        self.image = self  # extract_samples reads the grid from its stack's image
        self.geotransform = self.ds.GetGeoTransform()
        self.projection = self.ds.GetProjection()
        self.width, self.height = self.ds.RasterXSize, self.ds.RasterYSize
        self.names = ["class"]
        self.sources = [path]
        self.nodata = self.band.GetNoDataValue()
        self.class_names = class_names(self.band)
        self.described = (f"{parameter} ('{os.path.basename(path)}', nodata {self.nodata:g}: check that it is not "
                          f"a class value)" if self.nodata is not None else f"{parameter} ('{os.path.basename(path)}')")

    def windows(self):
        return windows(self.width, self.height, input_block=tuple(self.band.GetBlockSize()))

    def read(self, window):
        values = self.band.ReadAsArray(*window).astype(np.float64)
        valid = np.isfinite(values)
        if self.nodata is not None:
            valid &= values != self.nodata
        return values[None], valid

    def label(self, value):
        return self.class_names.get(value, str(value))


def _members(name):
    return {m.strip().casefold() for m in name.split(GROUP_SEPARATOR)} | {name.strip().casefold()}


def _matches(class_map, classes, mapped_values, parameter, remedy):
    """{reference class value: the map values that agree with it}, among the map's named classes and the values
    found at the sites. parameter: the one holding the reference's class names; remedy: what to give instead when
    the map carries none."""
    known = set(class_map.class_names) | set(mapped_values)
    if not classes.from_text:
        return {v: {v} & known for v in classes.values}
    if not class_map.class_names:
        raise InputError(parameter, f"holds class names, but the map carries no class names to match them with (no "
                                    f"attribute table or GDAL categories in {class_map.parameter}); {remedy}")
    return {v: {m for m in known if n.casefold() in _members(class_map.label(m))}
            for v, n in zip(classes.values, classes.names)}


def _assessed_together(names, agree, from_text):
    """Groups of reference classes (indices) the map cannot tell apart: those that agree with one map class (a
    joined SAM class), and text names that differ only in case or spaces. Each group is assessed as one class,
    so a map class's precision is never split between classes it does not separate."""
    group = list(range(len(names)))

    def root(i):
        while group[i] != i:
            i = group[i]
        return i
    for i in range(len(names)):
        for j in range(i):
            if agree[i] & agree[j] or (from_text and names[i].strip().casefold() == names[j].strip().casefold()):
                group[root(i)] = root(j)
    members = {}
    for i in range(len(names)):
        members.setdefault(root(i), []).append(i)
    return list(members.values())


COUNTED_SPAN = 2 ** 20  # class values spanning fewer are counted (bincount), more sorted (np.unique): 15x faster


def _distinct(values):
    """(the distinct values, in order; each value's index among them; each one's pixels) of int64 values: by
    counting where they span fewer than COUNTED_SPAN (class values nearly always do), else by sorting."""
    if not len(values):
        return values, values, values
    low = values.min()
    if values.max() - low >= COUNTED_SPAN:
        distinct, index, pixels = np.unique(values, return_inverse=True, return_counts=True)
        return distinct, index, pixels
    counts = np.bincount(values - low)
    present = np.flatnonzero(counts)
    rank = np.zeros(len(counts), np.int64)
    rank[present] = np.arange(len(present))
    return present + low, rank[values - low], counts[present]


def _add_counts(counts, values):
    """Adds each value's pixels to {value: pixels}."""
    distinct, _, pixels = _distinct(values)
    for v, k in zip(distinct.tolist(), pixels.tolist()):
        counts[v] = counts.get(v, 0) + k


def mapped_pixels(class_map, feedback=None):
    """{map value: pixels} over the whole map (nodata left out), block by block."""
    counts = {}
    for window in stepped(class_map.windows(), feedback):
        values, valid = class_map.read(window)
        _add_counts(counts, whole_classes(values[0][valid], class_map))
    return counts


def whole_classes(values, class_map, where=""):
    """The values as int64 class values, or an error naming the raster they came from: a continuous raster (a
    ratio, a probability) scored as classes would make every distinct value a class."""
    broken = values[values != np.round(values)]
    if len(broken):
        raise InputError(class_map.parameter, f"holds {broken[0]:g}{where}: a class map holds whole class values. "
                                              "Give a class raster, not a continuous one such as a ratio, a "
                                              "probability or a content map.")
    wide = values[~fits_class_raster(values)]
    if len(wide):
        raise InputError(class_map.parameter, f"holds {wide[0]:g}{where}, beyond the class values a class raster "
                                              "holds (-2147483647 to 2147483647): not a class map.")
    return values.astype(np.int64)


def refuse_fills(class_map, counts):
    """An error when the raster holds a missing-value marker it does not declare (nor name as a class): it would
    be scored as a class."""
    fills = [v for v in FILL_VALUES if v in counts and v not in class_map.class_names]
    if fills:
        raise InputError(class_map.parameter, f"holds {fills[0]:g} on {counts[fills[0]]} pixels, a value data sets "
                                              f"write where a class is missing, without a class name; declare it as "
                                              f"its nodata value (raster properties, or gdal_edit.py -a_nodata "
                                              f"{fills[0]:g}).")


def area_weighted(matrix, columns, right, mapped):
    """Accuracy and area estimated as for a sample stratified by map class (Olofsson et al. 2014): each map class
    (a stratum, a column) weighs by its share of the map, W_j, so a class sampled more densely than its area
    does not dominate. p_ij = W_j n_ij / n_.j; overall accuracy sum of the agreeing p_ij; a reference class's
    area share sum_j p_ij, with its standard error, and its producer's accuracy the agreeing part of
    it. Sites are single pixels (points). Returns (estimates, {}), or (None, {map value: pixels}) naming the map
    classes that hold fewer than 2 sites: a stratum without them has no estimate of its own."""
    total = sum(mapped.values())
    unsampled = {v: n for v, n in mapped.items() if v not in columns or matrix[:, columns.index(v)].sum() < 2}
    if unsampled:
        return None, unsampled
    n_col = matrix.sum(axis=0).astype(float)
    weight = np.array([mapped.get(c, 0) / total for c in columns])  # 0 for a named class the map does not hold
    share = np.divide(matrix, n_col, out=np.zeros(matrix.shape), where=n_col > 0)  # n_ij / n_.j
    p = weight * share
    per_stratum = np.divide(weight ** 2, n_col - 1, out=np.zeros(len(columns)), where=n_col > 1)
    users = (share * right).sum(axis=0)  # each map class's share of site pixels that agree
    classes = []
    for i, agrees in enumerate(right):
        area = p[i].sum()
        classes.append({"area_share": float(area),
                        "area_share_se": float(np.sqrt((per_stratum * share[i] * (1 - share[i])).sum())),
                        "area_pixels": float(area * total),
                        "mapped_pixels": int(sum(mapped.get(c, 0) for c, a in zip(columns, agrees) if a)),
                        "producers": float(p[i, agrees].sum() / area) if area else float("nan"),
                        "users": float(p[i, agrees].sum() / weight[agrees].sum()) if weight[agrees].sum()
                        else float("nan")})
    return {"overall_accuracy": float((p * right).sum()),
            "overall_se": float(np.sqrt((per_stratum * users * (1 - users)).sum())), "map_pixels": int(total),
            "classes": classes}, {}


@dataclass
class Tally:
    """What a report is built from, however the reference came: the pixels counted per (reference class value,
    map value) pair, and each reference value's sites. From sites (points, polygons: assess_map) or from a
    reference raster (assess_map_on_raster)."""
    classes: Classes  # the reference's classes
    reference: np.ndarray  # (k,) reference class value of each pair
    mapped: np.ndarray  # (k,) map value of each pair
    pixels: np.ndarray  # (k,) pixels of each pair
    sites: dict  # {reference value: sites (features, or pixels of a raster)}
    counts: dict  # what was read and what was left out, for the report
    geometry: str  # 'point', 'polygon', 'mixed' or 'raster'
    mapped_counts: dict  # {map value: pixels} over the whole map


def _pairs(reference, mapped):
    """(reference values, map values, pixels) of the distinct pairs among the pixels."""
    ref_values, ref_index, _ = _distinct(reference)
    map_values, map_index, _ = _distinct(mapped)
    pixels = np.bincount(ref_index * len(map_values) + map_index, minlength=len(ref_values) * len(map_values))
    found = np.nonzero(pixels)[0]
    return ref_values[found // len(map_values)], map_values[found % len(map_values)], pixels[found]


def assess_map(class_map, features, report_path=None, feedback=None):
    """The map against reference sites: features are (WKB in the map's CRS or None, class label). Writes the
    HTML report (JSON beside it) when report_path is given; returns the result dict."""
    samples = extract_samples(class_map, features, "REFERENCE", "FIELD", feedback, min_classes=1)
    mapped = whole_classes(samples.X[:, 0], class_map, " at a reference site")
    mapped_counts = mapped_pixels(class_map, feedback)
    refuse_fills(class_map, mapped_counts)
    sites = {v: len(np.unique(samples.feature[samples.y == v])) for v in samples.classes.values}
    tally = Tally(samples.classes, *_pairs(samples.y, mapped), sites, samples.counts, samples.geometry, mapped_counts)
    result = _assess(class_map, tally, "FIELD", "choose a field of the map's class values (integers), or give a "
                                                "class map written by Prospectra.")
    return _finish(result, report_path, feedback)


def same_grid(class_map, reference):
    """An error naming the reference raster unless it lies on the map's grid: scoring pixel by pixel needs the
    same pixels, and resampling a class raster here would make up agreement or disagreement along every edge."""
    # without a geotransform GDAL gives (0, 1, 0, 0, 0, 1), pixel coordinates: what an identity one says too
    gt, ref_gt = class_map.geotransform, reference.geotransform
    srs, ref_srs = (osr.SpatialReference(wkt=r.projection) if r.projection else None for r in (class_map, reference))
    size, ref_size = (class_map.width, class_map.height), (reference.width, reference.height)
    if ref_size != size:
        problem = f"it is {ref_size[0]} x {ref_size[1]} pixels, {class_map.parameter} {size[0]} x {size[1]}"
    elif not np.allclose(gt, ref_gt, rtol=0, atol=1e-6 * min(np.hypot(gt[1], gt[4]), np.hypot(gt[2], gt[5]))):
        # the pixel's sides are (gt[1], gt[4]) and (gt[2], gt[5]): their lengths, also on a rotated grid
        if gt[2] == gt[4] == ref_gt[2] == ref_gt[4] == 0:
            problem = (f"its origin or pixel size differs (origin {ref_gt[0]:.10g}, {ref_gt[3]:.10g}, pixel "
                       f"{ref_gt[1]:.6g} x {ref_gt[5]:.6g}; {class_map.parameter}'s {gt[0]:.10g}, {gt[3]:.10g}, "
                       f"pixel {gt[1]:.6g} x {gt[5]:.6g})")
        else:  # a rotated or sheared grid: origin and pixel size may agree while the rotation terms differ
            problem = (f"its geotransform differs, with rotation or shear terms (its {', '.join(f'{v:.10g}' for v in ref_gt)}; "
                       f"{class_map.parameter}'s {', '.join(f'{v:.10g}' for v in gt)})")
    elif (srs is None) != (ref_srs is None) or (srs is not None and not srs.IsSame(ref_srs)):
        problem = f"its coordinate reference system is not {class_map.parameter}'s"
    else:
        return
    raise InputError(reference.parameter, f"is not on the grid of {class_map.parameter}: {problem}. Pixels are "
                                          f"compared one to one, and nothing is resampled here; warp it onto the "
                                          f"map's grid first (Warp (reproject) with nearest-neighbour resampling, "
                                          f"the map's CRS, extent and pixel size).")


def assess_map_on_raster(class_map, reference, report_path=None, feedback=None):
    """The map against a reference class raster on its grid (both ClassMaps: band 1, nodata left out), pixel by
    pixel, block by block. Reference classes meet map classes by name where the reference carries class names,
    else by value. Every reference pixel valid where the map is valid is counted, also those of classes no map
    class agrees with (they are disagreement, named in result['unmatched']). Writes the report when report_path
    is given; returns the result dict, as assess_map."""
    same_grid(class_map, reference)
    pairs, mapped_counts, reference_counts = {}, {}, {}
    with bounded_cache():  # the windows are read once: GDAL's cache would only grow with the rasters
        for window in stepped(class_map.windows(), feedback):
            values, valid = class_map.read(window)
            ref_values, ref_valid = reference.read(window)
            _add_counts(mapped_counts, whole_classes(values[0][valid], class_map))
            _add_counts(reference_counts, whole_classes(ref_values[0][ref_valid], reference))
            for layer, found in ((class_map, mapped_counts), (reference, reference_counts)):
                if len(found) > MAX_RASTER_CLASSES:  # refused as soon as seen: the pairs would grow with the pixels
                    raise InputError(layer.parameter, f"holds more than {MAX_RASTER_CLASSES} distinct values: a class "
                                                      f"map holds the classes of a legend, not a continuous raster "
                                                      f"such as a DEM, a band or a content map. Give a class raster.")
            both = valid & ref_valid
            ref, mapped, pixels = _pairs(ref_values[0][both].astype(np.int64), values[0][both].astype(np.int64))
            for key in zip(ref.tolist(), mapped.tolist(), pixels.tolist()):
                pairs[key[:2]] = pairs.get(key[:2], 0) + key[2]
    refuse_fills(class_map, mapped_counts)
    refuse_fills(reference, reference_counts)
    grid = class_map.width * class_map.height
    if not pairs:
        raise InputError(reference.parameter, f"no pixel holds a class in both {reference.described} and "
                                              f"{class_map.described}: where one has a class the other has nodata.")
    values = sorted(reference_counts)
    classes = Classes(values, [reference.label(v) for v in values], bool(reference.class_names))
    ref, mapped = (np.array([p[k] for p in pairs], np.int64) for k in (0, 1))
    pixels = np.array(list(pairs.values()), np.int64)
    sites = dict.fromkeys(values, 0)  # each pixel is a site of its own
    for v, n in zip(ref.tolist(), pixels.tolist()):
        sites[v] += n
    counts = {"pixels": grid, "map_nodata": grid - sum(mapped_counts.values()),
              "reference_nodata": grid - sum(reference_counts.values()), "compared": int(pixels.sum())}
    tally = Tally(classes, ref, mapped, pixels, sites, counts, "raster", mapped_counts)
    result = _assess(class_map, tally, reference.parameter, f"give {reference.parameter} without class names (an "
                                                           f"attribute table or GDAL categories) to match the classes "
                                                           f"by value, or a class map written by Prospectra.")
    result["reference"] = reference.path
    return _finish(result, report_path, feedback)


def _assess(class_map, tally, names_parameter, remedy):
    """The result dict (confusion matrix, overall accuracy, kappa, per reference class precision, recall and F1)
    from a tally: the one way a report is built."""
    classes = tally.classes
    on_map = [(v, name) for v, name in zip(classes.values, classes.names) if tally.sites.get(v)]
    agree = _matches(class_map, classes, set(tally.mapped.tolist()), names_parameter, remedy)
    groups = _assessed_together([n for _, n in on_map], [agree[v] for v, _ in on_map], classes.from_text)
    values = [[on_map[i][0] for i in g] for g in groups]
    labels = [GROUP_SEPARATOR.join(sorted(on_map[i][1] for i in g)) for g in groups]
    agrees = [set().union(*(agree[v] for v in vs)) for vs in values]
    columns = sorted(set(tally.mapped.tolist()) | set().union(*agrees))
    row_of = {v: r for r, vs in enumerate(values) for v in vs}  # classes with no site on the map have no row
    matrix = np.zeros((len(groups), len(columns)), np.int64)
    keys = sorted(row_of)  # every pair's row, found without a Python loop
    rows = np.array([row_of[k] for k in keys])[np.searchsorted(keys, tally.reference)]
    np.add.at(matrix, (rows, np.searchsorted(columns, tally.mapped)), tally.pixels)
    right = np.array([[c in a for c in columns] for a in agrees], bool)  # cells where map and reference agree
    n = int(matrix.sum())
    per_class = []
    for i, (vs, label, a) in enumerate(zip(values, labels, agrees)):
        mapped_as = matrix[:, right[i]].sum()  # every pixel mapped to a class that agrees with this one
        hit = int(matrix[i, right[i]].sum())
        precision = hit / mapped_as if mapped_as else 0.0  # nothing mapped as it: none right (as scikit-learn)
        recall = hit / matrix[i].sum()
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"class": label, "values": vs, "map_classes": [class_map.label(c) for c in columns if c in a],
                          "sites": int(sum(tally.sites[v] for v in vs)),
                          "pixels": int(matrix[i].sum()), "precision": precision, "recall": recall, "f1": f1})
    observed = matrix[right].sum() / n
    row_share, column_share = matrix.sum(axis=1) / n, matrix.sum(axis=0) / n
    chance = float((row_share[:, None] * column_share[None, :] * right).sum())  # agreement were they independent
    kappa = (observed - chance) / (1 - chance) if chance < 1 else float("nan")
    estimates, unsampled = None, {}
    if tally.geometry == "point":  # a polygon's pixels are one cluster, not independent draws: no estimate
        estimates, unsampled = area_weighted(matrix, columns, right, tally.mapped_counts)
    if estimates is not None:
        for k, e in zip(per_class, estimates["classes"]):
            e["class"] = k["class"]
    return {"map": class_map.path, "pixels": n, "sites": int(sum(k["sites"] for k in per_class)),
            "overall_accuracy": float(observed), "kappa": float(kappa), "chance_agreement": chance,
            "classes": per_class, "unmatched": [k["class"] for k in per_class if not k["map_classes"]],
            "together": [k["class"] for k in per_class if len(k["values"]) > 1],
            "not_assessed": [nm for v, nm in zip(classes.values, classes.names) if v not in row_of],
            "matrix": {"rows": labels, "columns": [class_map.label(c) for c in columns], "counts": matrix.tolist()},
            "counts": tally.counts, "geometry": tally.geometry, "area_weighted": estimates,
            "unsampled": [{"class": class_map.label(v), "pixels": count} for v, count in sorted(unsampled.items())]}


def _finish(result, report_path, feedback):
    """The result, its report written when report_path is given."""
    if feedback is not None and feedback.isCanceled():  # the last check before anything is written
        raise Canceled("Canceled by the user; no report was written.")
    if report_path:
        with OutputTransaction({"REPORT": report_path}):
            write_report(result, report_path)
    return result


def not_estimated(result):
    """Why the whole map was not estimated (result['area_weighted'] is None)."""
    if result["geometry"] == "raster":
        return ("Not estimated: the reference raster was compared with every pixel of the map where both hold a "
                "class, so the figures above are counts over those pixels, not estimates from a sample.")
    if result["geometry"] != "point":
        return ("Not estimated over the whole map: the sites are polygons, whose pixels are one cluster, not "
                "independent samples. Give one point per site, drawn at random within each mapped class.")
    missing = ", ".join(f"{u['class']} ({u['pixels']} px)" for u in result["unsampled"])
    return (f"Not estimated over the whole map: the map classes {missing} hold fewer than 2 sites. An estimate needs "
            f"sites in every map class, 'unclassified' too, drawn at random within each (Olofsson et al. 2014).")


def _area_weighted_html(result):
    e = result["area_weighted"]
    head = "<h2>Over the whole map (area-weighted)</h2>"
    if e is None:
        return head + f"<p>{esc(not_estimated(result))}</p>"
    ci = 1.96 * e["overall_se"]
    certain = ("" if e["overall_se"] else " An interval of 0: in every map class all its sites agreed, or all "
               "disagreed, so the sites show no spread; more sites would.")
    rows = [[esc(k["class"]), k["mapped_pixels"],
             f"{k['area_pixels']:.0f} &plusmn; {1.96 * k['area_share_se'] * e['map_pixels']:.0f}",
             fmt(k["users"], 3), fmt(k["producers"], 3)] for k in e["classes"]]
    return (head + f"<p>If the sites are a random sample stratified by map class (or a simple random sample), "
            f"these estimate the whole map: each map class weighs by its share of the map's {e['map_pixels']} "
            f"pixels, not by how many sites it holds (Olofsson et al. 2014). <b>Overall accuracy "
            f"{fmt(e['overall_accuracy'], 3)} &plusmn; {fmt(ci, 2)}</b> (95 % confidence interval).{certain}</p>"
            + table(["reference class", "mapped pixels (agreeing map classes)", "estimated pixels (95 % CI)",
                     "user's accuracy", "producer's accuracy"], rows)
            + "<p class=note>Estimated pixels: how much of the map the class truly covers, from the sites; the "
              "interval is 1.96 standard errors. For sites placed by hand these figures are no better than the "
              "sites.</p>")


def _provenance_html(result):
    """What the reference gave and what was left out of it: its sites, or a reference raster's pixels."""
    c = result["counts"]
    if result["geometry"] == "raster":
        return ("<h2>Pixels</h2>" + table(["", "count"], [["pixels of the grid", c["pixels"]],
                                                          ["nodata in the map (left out)", c["map_nodata"]],
                                                          ["nodata in the reference (left out)", c["reference_nodata"]],
                                                          ["compared (a class in both)", c["compared"]]])
                + "<p class=note>Every pixel is compared, so the figures are counts, not estimates; but a reference "
                  "map is itself a classification with errors of its own, and the agreement measured is with it, "
                  "not with the ground (Stehman &amp; Foody 2019).</p>")
    skipped = [("without a class", c["no_class"]), ("without a geometry (or not transformable)", c["no_geometry"]),
               ("outside the map", c["outside"]), ("polygons too small to hold a pixel centre", c["no_pixel_centre"]),
               ("only on nodata pixels", c["on_nodata"])]
    return ("<h2>Sites</h2>" + table(["", "count"], [["features in the layer", c["features"]], *skipped,
                                                     ["pixels on nodata (left out)", c["pixels_nodata"]],
                                                     ["pixels in two or more sites (counted in each)",
                                                      c["pixels_in_several_features"]],
                                                     ["features used", c["features_used"]]])
            + "<p class=note>The figures are as good as the sites. Pixels of one polygon are not independent "
              "samples, and sites chosen where the ground is easy to recognise flatter any map: for an unbiased "
              "estimate of a map's accuracy, draw the sites at random, stratified by mapped class (Stehman &amp; "
              "Foody 2019).</p>")


def write_report(result, path):
    raster = result["geometry"] == "raster"
    units = "pixels" if raster else "sites"  # a reference raster's sites are its pixels
    m = result["matrix"]
    right = [[c in k["map_classes"] for c in m["columns"]] for k in result["classes"]]
    cells = [[esc(r), *[f"<b>{v}</b>" if ok else str(v) for v, ok in zip(counts, agree)], str(sum(counts))]
             for r, counts, agree in zip(m["rows"], m["counts"], right)]
    totals = np.array(m["counts"]).sum(axis=0).tolist()
    matrix = table(["reference \\ map", *map(esc, m["columns"]), "total"],
                   cells + [["total", *map(str, totals), str(result["pixels"])]])
    per_class = table(["reference class", "agrees with map class", *([] if raster else ["sites"]), "pixels",
                       "precision (user's)", "recall (producer's)", "F1"],
                      [[esc(k["class"]), esc(", ".join(k["map_classes"]) or "none"), *([] if raster else [k["sites"]]),
                        k["pixels"], fmt(k["precision"], 3), fmt(k["recall"], 3), fmt(k["f1"], 3)]
                       for k in result["classes"]], left=2)
    unmatched = (f"<p><b>No map class agrees with</b> {esc(', '.join(result['unmatched']))}: none of the map's "
                 f"class names, nor a class mapped at any of their {units}. Their {units} count as disagreement.</p>"
                 if result["unmatched"] else "")
    if result["together"]:
        unmatched += (f"<p><b>Assessed together:</b> {esc('; '.join(result['together']))}. The map does not tell "
                      "them apart (one map class agrees with each), or their names differ only in case, so they are "
                      "one class here: a map that joins classes scores higher than one that separates them, and "
                      "its figures say only how well it finds the group.</p>")
    if result["not_assessed"]:
        unmatched += (f"<p><b>Not assessed:</b> {esc(', '.join(result['not_assessed']))}: "
                      + ("all its pixels lie on the map's nodata.</p>" if raster else
                         "no site of it covers a valid pixel of the map (outside it, on nodata, or a polygon "
                         "holding no pixel centre).</p>"))
    against = (f"the reference raster {esc(result['reference'])}, pixel by pixel ({result['pixels']} pixels "
               f"where both hold a class)" if raster else
               f"{result['sites']} reference sites ({result['pixels']} pixels, {esc(result['geometry'])}s)")
    body = (
        f"<p>{esc(result['map'])} against {against}. <b>Overall accuracy {fmt(result['overall_accuracy'], 3)}</b>, "
        f"Cohen's kappa "
        f"{fmt(result['kappa'], 3)} (agreement expected by chance {fmt(result['chance_agreement'], 3)}).</p>"
        + unmatched + "<h2>Per class</h2>" + per_class
        + "<p class=note>Precision (user's accuracy): of the pixels mapped to the map classes that agree with a "
          "reference class, the share whose reference is of it. Recall (producer's accuracy): of its reference pixels, the "
          "share mapped to a class that agrees.</p>"
        + _area_weighted_html(result)
        + "<h2>Confusion matrix (pixels)</h2>" + matrix
        + f"<p class=note>Rows: the reference classes; columns: the map classes found at the reference's {units}; "
          "agreement in bold.</p>"
        + _provenance_html(result)
        + "<h2>References</h2><ul>" + "".join(f"<li>{esc(r)}</li>" for r in REFERENCES) + "</ul>")
    write_file(path, page(f"Map accuracy against {'a reference raster' if raster else 'reference sites'}", body))
    write_json(json_path(path), result)
