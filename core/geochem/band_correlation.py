"""Correlation between a sample field and each band's reflectance at the sample points: Spearman's rank
correlation (Spearman 1904), which Cheng et al. (2023, Table 3) use because content is not normally
distributed, and Pearson's, with two-sided p-values from scipy.stats and the marks of their Table 3
(* p < 0.05, ** p < 0.01)."""
import csv
import io
import math
import warnings

import numpy as np
from osgeo import osr

from ..errors import InputError, require
from ..io.outputs import OutputTransaction, write_file
from ..report.geochem_report import NO_PLOT, esc, figure, fmt, json_path, page, png, table, write_json
from ..io.blocks import stepped
from ..io.image import pixel_of, sample_image
from .geochem_samples import MIN_SAMPLES, check_spectra, numeric_samples, refuse_duplicates

REFERENCES = [
    "Cheng G. et al. (2023). Research on quantitative inversion of ion adsorption type rare earth ore based on "
    "convolutional neural network. Frontiers in Earth Science, doi:10.3389/feart.2022.1086325 (section 2.5 and "
    "Table 3: Spearman correlation of RE2O3 content with GF-2 band reflectance, two-sided significance).",
    "Spearman C. (1904). The proof and measurement of association between two things. American Journal of "
    "Psychology 15, 72-101.",
    "Pearson K. (1896). Mathematical contributions to the theory of evolution III. Regression, heredity and "
    "panmixia. Philosophical Transactions of the Royal Society A 187, 253-318.",
    "Holm S. (1979). A simple sequentially rejective multiple test procedure. Scandinavian Journal of Statistics "
    "6, 65-70.",
    "Clifford P., Richardson S., Hemon D. (1989). Assessing the significance of the correlation between two spatial "
    "processes. Biometrics 45, 123-134.",
    "Dutilleul P. (1993). Modifying the t test for assessing the correlation between two spatial processes. "
    "Biometrics 49, 305-314.",
    "Virtanen P. et al. (2020). SciPy 1.0. Nature Methods 17, 261-272 (scipy.stats.spearmanr, pearsonr).",
]
CSV_FIELDS = ["band", "centre_nm", "n", "spearman_rho", "spearman_p", "spearman_sig", "spearman_p_holm",
              "effective_n", "spearman_p_dutilleul", "pearson_r", "pearson_p", "pearson_sig", "mean_reflectance"]
DISTANCE_CLASSES = 13  # Moran's I in 13 classes of equal width up to the largest distance between samples
ROWS_PER_PASS = 256  # samples whose distances to all others are held at once


def significance(p):
    """Table 3's marks: '**' below 0.01, '*' below 0.05, '' otherwise (and for a missing p)."""
    if p is None or not np.isfinite(p):
        return ""
    return "**" if p < 0.01 else "*" if p < 0.05 else ""


def holm(p):
    """Holm's (1979) step-down adjustment of p-values for the tests made together: the i-th smallest of m times
    (m - i + 1), never below the one before it, at most 1. A band rejects at level a after adjustment exactly when
    Holm's procedure rejects it at a. NaN (a band without a test) stays NaN and does not count in m."""
    p = np.asarray(p, dtype=np.float64)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    adjusted = np.full(p.shape, np.nan)
    adjusted[order] = np.minimum(np.maximum.accumulate(p[order] * (m - np.arange(m))), 1.0)
    return adjusted


def _largest_distance(x, y):
    """The largest distance between two samples, found among the corners of their convex hull (joggled, so that
    samples on one line have one too)."""
    from scipy.spatial import ConvexHull
    from scipy.spatial.distance import pdist

    points = np.column_stack([x, y])
    if len(points) > 3:
        points = points[ConvexHull(points, qhull_options="QJ").vertices]
    return float(pdist(points).max())


def _moran_by_distance(x, y, variables, feedback=None):
    """Moran's I of each variable (rows of variables) in DISTANCE_CLASSES classes of equal width up to the largest
    distance, with how many other samples each sample has in each class. Distances are taken ROWS_PER_PASS samples
    at a time against all others (progress and cancel per pass). Returns (I (variables, classes), counts (samples,
    classes))."""
    n = len(x)
    z = variables - variables.mean(axis=1, keepdims=True)
    passes = [slice(i, i + ROWS_PER_PASS) for i in range(0, n, ROWS_PER_PASS)]
    width = _largest_distance(x, y) / DISTANCE_CLASSES
    k = DISTANCE_CLASSES + 1  # and a class of its own for each sample itself
    counts, sums = np.zeros((n, k)), np.zeros((len(z), n, k))
    for rows in stepped(passes, feedback):
        d = np.hypot(x[rows, None] - x[None, :], y[rows, None] - y[None, :])
        cls = np.minimum((d / width).astype(np.int64), DISTANCE_CLASSES - 1)
        cls[np.arange(len(d)), np.arange(rows.start, rows.start + len(d))] = DISTANCE_CLASSES
        index = (np.arange(len(d))[:, None] * k + cls).ravel()
        counts[rows] = np.bincount(index, minlength=len(d) * k).reshape(len(d), k)
        for v in range(len(z)):
            sums[v, rows] = np.bincount(index, np.broadcast_to(z[v], d.shape).ravel(), len(d) * k).reshape(len(d), k)
    counts, sums = counts[:, :-1], sums[:, :, :-1]
    pairs = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        moran = n * np.einsum("vi,vik->vk", z, sums) / pairs / (z ** 2).sum(axis=1, keepdims=True)
    return np.where(pairs > 0, moran, 0.0), counts  # a class without pairs adds nothing


def effective_sample_sizes(x, y, values, bands, degrees=False, feedback=None):
    """Dutilleul's (1993) effective sample size for the correlation of values with each band (columns of bands)
    at samples x, y, on ranks as Spearman's coefficient is: 1 + 1 / the variance of the coefficient under
    independence of the two, estimated from each one's spatial autocorrelation (Moran's I by distance class,
    Clifford et al. 1989): tr(B Sx B Sy) / (tr(B Sx) tr(B Sy)), B centring, S the correlation between samples.
    About n where neither is autocorrelated; fewer the more alike neighbouring samples of both are; never more
    than n (a larger estimate, from the estimate's own noise, would make the test surer than the samples allow).
    NaN for a band constant over the samples, and where the estimated variance is not positive (not estimable).
    degrees: x, y are longitude and latitude; east-west degrees are scaled by the cosine of the mean latitude (an
    approximation for a survey of a few degrees)."""
    from scipy.stats import rankdata

    n = len(values)
    ranks = np.vstack([rankdata(values), *[rankdata(b) for b in np.asarray(bands).T]])
    x, y = np.asarray(x, float), np.asarray(y, float)
    if degrees:
        x = x * math.cos(math.radians(float(np.mean(y))))
    moran, counts = _moran_by_distance(x, y, ranks, feedback)
    pairs = counts.sum(axis=0)
    row_sums = 1 + counts @ moran.T  # (samples, variables): each row of S summed, 1 on its diagonal
    totals = row_sums.sum(axis=0)
    sizes = []
    for v in range(1, len(ranks)):  # row 0 holds the values
        if np.ptp(ranks[v]) == 0:
            sizes.append(math.nan)
            continue
        cross = n + pairs @ (moran[0] * moran[v])  # sum of Sx * Sy over all pairs
        centred = cross - 2 / n * row_sums[:, 0] @ row_sums[:, v] + totals[0] * totals[v] / n ** 2
        variance = centred / ((n - totals[0] / n) * (n - totals[v] / n))
        sizes.append(min(n, 1 + 1 / variance) if variance > 0 else math.nan)
    return np.array(sizes)


def dutilleul_p(r, size):
    """Two-sided p-value of a correlation r with an effective sample size: F = (size - 2) r^2 / (1 - r^2) on 1 and
    size - 2 degrees of freedom (Dutilleul 1993). NaN where size is not above 2 (nothing left to test with)."""
    from scipy.stats import f

    if not (np.isfinite(r) and np.isfinite(size) and size > 2):
        return math.nan
    if abs(r) >= 1:
        return 0.0
    return float(f.sf((size - 2) * r * r / (1 - r * r), 1, size - 2))


def _correlate(v, b):
    """(Spearman rho, p, Pearson r, p); NaN where a band is constant over the samples (no correlation exists)."""
    from scipy import stats

    if np.ptp(b) == 0:
        return math.nan, math.nan, math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on near-constant input; the values are still returned
        rho, p_rho = stats.spearmanr(v, b)
        r, p_r = stats.pearsonr(v, b)
    return float(rho), float(p_rho), float(r), float(p_r)


def band_correlation(image, x, y, values, field, bands=None, window=1, feedback=None, report=None, table_path=None):
    """Correlate field values (at x, y in the image's CRS) with the reflectance of each band at those points.

    Writes the HTML report (JSON beside it) and the CSV table when paths are given; returns the result dict."""
    require("Band correlation", "scipy")
    bands = image.require(bands, "BANDS", distinct=True) if bands else image.band_names
    samples = numeric_samples(x, y, values, field, parameter="FIELD", points_parameter="POINTS",
                              purpose="correlate")
    degrees = bool(image.projection) and bool(osr.SpatialReference(wkt=image.projection).IsGeographic())
    refuse_duplicates(samples, "POINTS", "A correlation counts each location once (copies would count as "
                                         "independent samples and overstate its significance)", degrees=degrees)
    reflectance, status = sample_image(image, bands, samples.x, samples.y, window, feedback)
    used = status == "ok"
    n = int(used.sum())
    outside, nodata = int((status == "outside").sum()), int((status == "nodata").sum())
    where = f"{outside} fall outside the image and {nodata} on nodata pixels"
    if n == 0:
        raise InputError("POINTS", f"none of the {len(samples)} samples with a value of '{field}' lies on valid "
                                   f"pixels of the image ({where}); check that the points and the image cover "
                                   f"the same area.")
    if n < MIN_SAMPLES:
        raise InputError("POINTS", f"only {n} of the {len(samples)} samples lie on valid pixels of the image "
                                   f"({where}); at least {MIN_SAMPLES} are needed for a correlation.")
    v = samples.values[used]
    col, row = pixel_of(image.geotransform, samples.x[used], samples.y[used])
    check_spectra(reflectance[used], col, row, "correlate")
    if v.min() == v.max():
        raise InputError("FIELD", f"'{field}' is {v[0]:g} at every one of the {n} samples on the image: a constant "
                                  f"field has no variation to correlate.")
    rows = []
    for k, band in enumerate(bands):
        b = reflectance[used, k]
        rho, p_rho, r, p_r = _correlate(v, b)
        rows.append({"band": band, "centre_nm": image.sensor.band(band).centre_nm, "n": n,
                     "spearman_rho": rho, "spearman_p": p_rho, "spearman_sig": significance(p_rho),
                     "pearson_r": r, "pearson_p": p_r, "pearson_sig": significance(p_r),
                     "mean_reflectance": float(b.mean())})
    for row, adjusted in zip(rows, holm([r["spearman_p"] for r in rows])):
        row["spearman_p_holm"] = float(adjusted)
    sizes = effective_sample_sizes(samples.x[used], samples.y[used], v, reflectance[used], degrees, feedback)
    for row, size in zip(rows, sizes):
        row["effective_n"] = float(size)
        row["spearman_p_dutilleul"] = dutilleul_p(row["spearman_rho"], size)
    if feedback is not None:
        feedback.setProgress(100)
    result = {"field": field, "sensor": image.sensor.name, "scaling": image.scaling_source, "window": window,
              "samples": {"points": samples.counts["points"], "without_value": samples.counts["no_value"],
                          "outside_image": outside, "on_nodata": nodata, "used": n},
              "field_statistics": {"mean": float(v.mean()), "sd": float(v.std(ddof=1)), "min": float(v.min()),
                                   "median": float(np.median(v)), "max": float(v.max())},
              "bands": rows,
              "significant_bands": [r["band"] for r in rows if r["spearman_sig"]],
              "significant_bands_holm": [r["band"] for r in rows if r["spearman_p_holm"] < 0.05],
              "significant_bands_dutilleul": [r["band"] for r in rows if r["spearman_p_dutilleul"] < 0.05],
              "bands_tested": sum(math.isfinite(r["spearman_p"]) for r in rows)}  # Holm's family
    with OutputTransaction({"OUTPUT_TABLE": table_path, "OUTPUT_REPORT": report}):  # all outputs or none
        if table_path:
            write_table(result, table_path)
        if report:
            write_report(result, report)
    return result


def write_table(result, path):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in result["bands"]:
        w.writerow({k: ("" if isinstance(r[k], float) and not np.isfinite(r[k]) else
                        f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in CSV_FIELDS})
    write_file(path, buf.getvalue())


def _bars_png(result):
    plt = figure()
    if plt is None:
        return NO_PLOT
    rows = result["bands"]
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(rows) + 2), 3.8))
    pos = np.arange(len(rows))
    rho = [r["spearman_rho"] for r in rows]
    r = [r["pearson_r"] for r in rows]
    ax.bar(pos - 0.2, np.nan_to_num(rho), 0.4, color="#2b83ba", label="Spearman rho")
    ax.bar(pos + 0.2, np.nan_to_num(r), 0.4, color="#fdae61", label="Pearson r")
    for i, row in enumerate(rows):
        for dx, key, value in ((-0.2, "spearman_sig", rho[i]), (0.2, "pearson_sig", r[i])):
            if row[key] and np.isfinite(value):
                ax.text(i + dx, value, row[key], ha="center", va="bottom" if value >= 0 else "top")
    ax.axhline(0, color="#444", lw=0.8)
    ax.set_xticks(pos, [row["band"] for row in rows])
    ax.set_ylabel(f"correlation with {result['field']}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig, "correlation per band")


def write_report(result, html_path):
    s = result["samples"]
    rows = result["bands"]
    head = ["", *[esc(r["band"]) for r in rows]]
    tested = result["bands_tested"]
    t3 = table(head, [
        ["Spearman correlation coefficient", *[fmt(r["spearman_rho"], 3) + r["spearman_sig"] for r in rows]],
        ["Sig. (two-sided)", *[fmt(r["spearman_p"], 3) for r in rows]],
        [f"Sig. adjusted for the {tested} band{'' if tested == 1 else 's'} tested (Holm)",
         *[fmt(r["spearman_p_holm"], 3) for r in rows]],
        ["Effective sample size (Dutilleul)", *[fmt(r["effective_n"], 4) for r in rows]],
        ["Sig. with the effective sample size", *[fmt(r["spearman_p_dutilleul"], 3) for r in rows]],
        ["Pearson correlation coefficient", *[fmt(r["pearson_r"], 3) + r["pearson_sig"] for r in rows]],
        ["Sig. (two-sided)", *[fmt(r["pearson_p"], 3) for r in rows]],
        ["band centre (nm)", *[fmt(r["centre_nm"], 4) for r in rows]],
        ["mean reflectance at the samples", *[fmt(r["mean_reflectance"], 3) for r in rows]]])
    how = "the pixel under each point" if result["window"] == 1 else \
        f"the mean of the valid pixels in a {result['window']} x {result['window']} window around each point"
    body = (
        f"<p>Correlation of <b>{esc(result['field'])}</b> with the reflectance of each band of the "
        f"{esc(result['sensor'])} image ({esc(result['scaling'])}), sampled at {esc(how)}. "
        f"n = {s['used']} samples.</p>" + t3 +
        "<p class=note>* significant at p &lt; 0.05, ** at p &lt; 0.01 (two-sided), as in Cheng et al. (2023) "
        "Table 3. Spearman's rho does not assume normally distributed values; Pearson's r measures a linear "
        "relation. A band constant over the samples has no coefficient (-). The p-values assume independent "
        "samples and test each band on its own: neighbouring samples and pixels are alike, so with spatially "
        "autocorrelated data they overstate significance. The row adjusted by Holm's (1979) procedure corrects "
        "Spearman's p-values for testing every band at once (a band below 0.05 there keeps the family's chance of "
        "any false mark below 1 in 20). The effective sample size (Dutilleul 1993) is how many independent samples "
        "the correlation is worth, given how alike neighbouring samples of the content and of the band are (their "
        "ranks' Moran's I in 13 distance classes); the row below it tests Spearman's rho with it instead of n. "
        "A first screen, not proof that a band carries the content.</p>"
        + _bars_png(result)
        + "<h2>Samples</h2>"
        + table(["", "count"], [["points in the layer", s["points"]], ["without a value", s["without_value"]],
                                ["outside the image", s["outside_image"]], ["on nodata pixels", s["on_nodata"]],
                                ["used", s["used"]]])
        + "<p>" + esc(result["field"]) + " at the samples used: " + ", ".join(
            f"{k} {fmt(v)}" for k, v in result["field_statistics"].items()) + ".</p>"
        + "<h2>References</h2><ul>" + "".join(f"<li>{esc(r)}</li>" for r in REFERENCES) + "</ul>")
    write_file(html_path, page(f"Band correlation of {result['field']}", body))
    write_json(json_path(html_path), result)
