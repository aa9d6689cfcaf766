"""Ordinary Kriging (Matheron 1963; Cressie 1993) of point samples onto a raster grid, with pykrige
(Murphy et al., GeoStat-Framework) doing the variogram fit.

The grid is kriged window by window. With a moving neighbourhood only the k nearest samples enter each pixel's
system, pykrige's own, solved once per set of neighbours by a compiled kernel (SharedNeighbourhoods,
kriging_kernel); with all samples, pykrige's OrdinaryKriging.execute predicts. Memory depends on the window,
not on the grid. The variogram model is given, or chosen as the one with the lowest leave-one-out
cross-validation RMSE. Leave-one-out is computed here (pykrige has none): each sample is predicted from its k
nearest other samples with the variogram fitted on all samples, the usual practice (Cressie 1993, section
2.6.4); the tests check it against pykrige refitted without the sample."""
import math
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, osr

from ..bands.band_composite import cumulative_cut
from ..io.blocks import (MAX_GRID_PIXELS, MAX_GRID_SIDE, RasterWriter, Subsample, bounded_cache, one_blas_thread,
                         step, windows)
from ..errors import InputError, require
from ..io.outputs import OutputTransaction, write_file
from ..report.geochem_report import NO_PLOT, esc, figure, fmt, json_path, page, png, table, write_json
from .geochem_samples import refuse_duplicates
from ..io.image import open_raster

gdal.UseExceptions()

VARIOGRAM_MODELS = ("linear", "power", "gaussian", "spherical", "exponential")
# pykrige's parameter order per model; the bounded models' first is the partial sill (sill - nugget).
PARAMETER_NAMES = {"linear": ("slope", "nugget"), "power": ("scale", "exponent", "nugget"),
                   "gaussian": ("psill", "range", "nugget"), "spherical": ("psill", "range", "nugget"),
                   "exponential": ("psill", "range", "nugget")}
NODATA = -9999.0
DEFAULT_NEIGHBOURS = 16
DEFAULT_LAGS = 12
MAX_GLOBAL_SAMPLES = 3000  # 'all samples' solves an (n+1)-square system per call: beyond this, use neighbours
# Pixels per window: pykrige holds pixels x neighbours distances and indices (16 bytes each), ~16 MB here.
WINDOW_PIXELS = 2 ** 16
# Sample distances per pykrige call when every sample is used (global neighbourhood): 64 MB of float64.
DISTANCES_PER_CALL = 2 ** 23
# Largest condition number (1-norm) of a Kriging system solved: error bound cond x 2.2e-16, so beyond 1e12 a
# solution in double precision is sure of fewer than 4 significant digits (a Gaussian variogram without nugget
# and a 100 km range reaches 3e14 on the till samples, its predictions far beyond the samples' range).
CONDITION_LIMIT = 1e12


def ordinary_kriging_class():
    require("Kriging", "pykrige.ok", "scipy")
    from pykrige.ok import OrdinaryKriging

    return OrdinaryKriging


# ---- the grid ------------------------------------------------------------------------------------------

class Grid:
    """A raster grid: size, GDAL geotransform and CRS (WKT)."""

    def __init__(self, width, height, geotransform, projection, parameter="REFERENCE"):
        self.parameter = parameter  # the parameter that defined the grid, named in errors about it
        self.width, self.height = int(width), int(height)
        self.geotransform = tuple(float(v) for v in geotransform)
        self.projection = projection

    @classmethod
    def of_raster(cls, path, parameter="REFERENCE"):
        ds = open_raster(path, parameter)
        return cls(ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform(), ds.GetProjection(), parameter)

    @classmethod
    def of_extent(cls, xmin, ymin, xmax, ymax, pixel_size, projection):
        """North-up grid from xmin, ymax covering the extent (the last row and column may reach past it)."""
        if not pixel_size or pixel_size <= 0:
            raise InputError("PIXEL_SIZE", "give a cell size above 0 (in the units of the output CRS) to build a "
                                           "grid from EXTENT.")
        if not (xmax > xmin and ymax > ymin):
            raise InputError("EXTENT", f"the extent {xmin:g}, {xmax:g}, {ymin:g}, {ymax:g} (xmin, xmax, ymin, ymax) "
                                       f"is empty.")
        srs = osr.SpatialReference()
        if projection and srs.ImportFromWkt(projection) == 0 and srs.IsGeographic():
            # before the size checks: a cell size in metres on an extent in degrees is not PIXEL_SIZE's fault
            raise InputError("CRS", f"the grid's CRS ({srs.GetName()}) is geographic (degrees): EXTENT spans "
                                    f"{xmax - xmin:g} x {ymax - ymin:g} degrees and PIXEL_SIZE {pixel_size:g} would be "
                                    f"degrees too, while Kriging needs distances in metres. Set CRS to a projected "
                                    f"CRS (e.g. UTM), into which EXTENT is reprojected, and give PIXEL_SIZE in its "
                                    f"units (metres).")
        if pixel_size > max(xmax - xmin, ymax - ymin):  # one cell reaching far past the extent
            raise InputError("PIXEL_SIZE", f"a cell size of {pixel_size:g} is larger than the extent "
                                           f"({xmax - xmin:g} x {ymax - ymin:g}); choose a cell size that divides it.")
        width = max(1, math.ceil((xmax - xmin) / pixel_size - 1e-9))
        height = max(1, math.ceil((ymax - ymin) / pixel_size - 1e-9))
        if max(width, height) > MAX_GRID_SIDE or width * height > MAX_GRID_PIXELS:
            raise InputError("PIXEL_SIZE", f"a cell size of {pixel_size:g} gives a grid of {width} x {height} "
                                           f"pixels (at most {MAX_GRID_SIDE:,} a side and {MAX_GRID_PIXELS:,} in "
                                           f"all); choose a larger cell size or a smaller extent.")
        return cls(width, height, (xmin, pixel_size, 0.0, ymax, 0.0, -pixel_size), projection, "CRS")

    def check_projected(self):
        parameter = self.parameter
        srs = osr.SpatialReference()
        if not self.projection or srs.ImportFromWkt(self.projection) != 0:
            raise InputError(parameter, "the grid has no coordinate reference system; Kriging needs a projected CRS "
                                        "(distances in metres).")
        if srs.IsGeographic():
            raise InputError(parameter, f"the grid's CRS ({srs.GetName()}) is geographic (degrees): Kriging needs "
                                        f"distances in metres; choose or reproject to a projected CRS (e.g. UTM).")
        return srs.GetName()

    def centres(self, window):
        """x and y of the pixel centres of window (xoff, yoff, w, h), row-major, as flat float64 arrays."""
        xoff, yoff, w, h = window
        g = self.geotransform
        col = np.arange(xoff, xoff + w, dtype=np.float64) + 0.5
        row = np.arange(yoff, yoff + h, dtype=np.float64)[:, None] + 0.5
        x = g[0] + col * g[1] + row * g[2]
        y = g[3] + col * g[4] + row * g[5]
        return np.broadcast_to(x, (h, w)).ravel(), np.broadcast_to(y, (h, w)).ravel()

    def contains(self, x, y):
        """Which points (x, y arrays) fall inside the grid."""
        a, b, c, d, e, f = self.geotransform
        det = b * f - c * e
        col = ((x - a) * f - (y - d) * c) / det
        row = ((y - d) * b - (x - a) * e) / det
        return (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)

    def describe(self, crs_name):
        g = self.geotransform
        xs = [g[0] + i * g[1] + j * g[2] for i in (0, self.width) for j in (0, self.height)]
        ys = [g[3] + i * g[4] + j * g[5] for i in (0, self.width) for j in (0, self.height)]
        return {"width": self.width, "height": self.height, "pixel_size": [abs(g[1]), abs(g[5])],
                "extent": [min(xs), min(ys), max(xs), max(ys)], "crs": crs_name}


# ---- the variogram and cross-validation ----------------------------------------------------------------

MAX_PARAMETER = 1e30  # a variogram parameter beyond it (a range of 1e30 map units) is a typing error


def parse_variogram_parameters(text, model):
    """'sill=80, range=40000, nugget=60' -> the dict pykrige takes for model; None for empty text."""
    text = (text or "").strip()
    if not text:
        return None
    if model not in PARAMETER_NAMES:
        raise InputError("VARIOGRAM_PARAMETERS", "fixed parameters need a fixed model: choose one in "
                                                 "VARIOGRAM_MODEL instead of automatic, or leave the parameters empty.")
    given = {}
    for item in filter(None, (t.strip() for t in text.replace(";", ",").split(","))):
        name, _, value = item.partition("=")
        name = name.strip().lower()
        if name in given:
            raise InputError("VARIOGRAM_PARAMETERS", f"{name} is given more than once; give each parameter once.")
        try:
            given[name] = float(value)
        except ValueError:
            raise InputError("VARIOGRAM_PARAMETERS", f"'{item}' is not name=number (e.g. range=40000).") from None
    names = list(PARAMETER_NAMES[model])
    accepted = names + (["sill"] if "psill" in names else [])
    unknown = [n for n in given if n not in accepted]
    if "sill" in given and "psill" in given:
        unknown.append("sill and psill together")
    bad = [f"{n}={v:g}" for n, v in given.items() if not np.isfinite(v) or v < 0 or (n != "nugget" and v == 0)]
    if bad:
        positive = " and ".join(n for n in accepted if n != "nugget" and n != "psill")
        raise InputError("VARIOGRAM_PARAMETERS", f"{', '.join(bad)}: {positive} must be positive and the nugget "
                                                 f"not negative.")
    huge = [f"{n}={v:g}" for n, v in given.items() if v > MAX_PARAMETER]
    if huge:  # the spherical and Gaussian models raise the range to the third power: 1e200 overflowed in pykrige
        raise InputError("VARIOGRAM_PARAMETERS", f"{', '.join(huge)}: beyond {MAX_PARAMETER:g}, larger than any "
                                                 f"distance or variance a survey holds; check the units.")
    if model == "power" and not given.get("exponent", 1.0) < 2:
        raise InputError("VARIOGRAM_PARAMETERS", f"exponent={given['exponent']:g}: a power variogram is valid for "
                                                 f"exponents above 0 and below 2 only (at 2 and beyond, Kriging "
                                                 f"variances turn negative).")
    if "sill" in given:
        given["psill"] = given.pop("sill") - given.get("nugget", 0.0)
        if given["psill"] <= 0:
            raise InputError("VARIOGRAM_PARAMETERS", "the sill must be larger than the nugget.")
    missing = [n for n in names if n not in given]
    if unknown or missing:
        need = ", ".join("sill (or psill)" if n == "psill" else n for n in names)
        raise InputError("VARIOGRAM_PARAMETERS", f"the {model} model takes {need}"
                                                 + (f"; not known: {', '.join(unknown)}" if unknown else "")
                                                 + (f"; missing: {', '.join(missing)}" if missing else "") + ".")
    return {n: given[n] for n in names}


@dataclass(frozen=True)
class Variogram:
    """How the variogram is chosen: model, one of VARIOGRAM_MODELS or 'auto' (lowest leave-one-out RMSE among them);
    parameters, a dict as pykrige takes it (None: fitted by pykrige's least squares on nlags lags, short lags
    weighted if weight)."""
    model: str = "auto"
    parameters: dict = None
    nlags: int = DEFAULT_LAGS
    weight: bool = False

    def check(self):
        if self.model != "auto" and self.model not in VARIOGRAM_MODELS:
            raise InputError("VARIOGRAM_MODEL", f"unknown model '{self.model}'; choose automatic or one of "
                                                f"{', '.join(VARIOGRAM_MODELS)}.")
        if self.parameters is not None and self.model == "auto":
            raise InputError("VARIOGRAM_PARAMETERS", "fixed parameters need a fixed model: choose one in "
                                                     "VARIOGRAM_MODEL.")
        if self.nlags < 2:
            raise InputError("NLAGS", f"{self.nlags} lags cannot show a variogram's shape; use 6 or more.")


def fit_variogram(samples, model, nlags=DEFAULT_LAGS, weight=False, parameters=None):
    """pykrige's OrdinaryKriging on the samples: the variogram fitted (or fixed to parameters)."""
    OrdinaryKriging = ordinary_kriging_class()
    return OrdinaryKriging(samples.x, samples.y, samples.values, variogram_model=model,
                           variogram_parameters=parameters, nlags=nlags, weight=weight)


def named_parameters(ok):
    names = PARAMETER_NAMES[ok.variogram_model]
    out = dict(zip(names, (float(v) for v in ok.variogram_model_parameters)))
    if "psill" in out:
        out["sill"] = out["psill"] + out["nugget"]
    return out


def _solve_batch(ok, data_xy, z, idx, dist):
    """Ordinary Kriging of each target from the samples idx[i] at distances dist[i], in one batched solve:
    the same system pykrige solves per point (variogram matrix with a zero diagonal, bordered by ones).
    Returns (predictions, Kriging variances, the largest condition number of the systems)."""
    m, k = idx.shape
    pts = data_xy[idx]
    between = np.sqrt(((pts[:, :, None, :] - pts[:, None, :, :]) ** 2).sum(axis=-1))
    a = np.ones((m, k + 1, k + 1))
    a[:, :k, :k] = -ok.variogram_function(ok.variogram_model_parameters, between)
    a[:, np.arange(k), np.arange(k)] = 0.0
    a[:, k, k] = 0.0
    b = np.ones((m, k + 1))
    b[:, :k] = -ok.variogram_function(ok.variogram_model_parameters, dist)
    weights = np.linalg.solve(a, b[..., None])[..., 0]
    return (weights[:, :k] * z[idx]).sum(axis=1), -(weights * b).sum(axis=1), float(np.linalg.cond(a, 1).max())


def pixel_kernel():
    """The compiled per-pixel kernel (kriging_kernel.krige_blocks), or MissingPackage saying how to install numba."""
    require("Kriging with a moving neighbourhood", "numba")
    from .kriging_kernel import krige_blocks

    return krige_blocks


class SharedNeighbourhoods:
    """Ordinary Kriging onto grid windows from each pixel's k nearest samples: the system pykrige's moving window
    solves for every pixel, here solved once per neighbour set and window (kriging_kernel). Neighbouring pixels
    mostly share their k nearest samples (about 200 pixels per set for 1,112 samples and 16 neighbours on
    2000 x 2000), so only the right-hand side differs from pixel to pixel.

    Each block's pixels search only the samples within d_k(m) + 2 r of the block's centre m, where d_k(m) is the
    distance from m to its k-th nearest sample and r the farthest pixel from m: a pixel p has k samples within
    d_k(m) + |p - m|, so its k nearest lie within that of p, and within d_k(m) + 2 r of m."""

    BLOCK = 32  # pixels a side: about 25 candidate samples per block for 16 neighbours on the benchmark's grid

    def __init__(self, ok, k):
        from scipy.spatial import cKDTree

        if ok.anisotropy_scaling != 1.0 or ok.anisotropy_angle != 0.0 or ok.coordinates_type != "euclidean":
            raise ValueError("the compiled kernel takes isotropic, euclidean variograms only, as fit_variogram fits")
        self.kernel = pixel_kernel()
        self.ok, self.k = ok, k
        self.sx, self.sy = np.array(ok.X_ADJUSTED, float), np.array(ok.Y_ADJUSTED, float)
        self.z = np.array(ok.Z, float)
        self.tree = cKDTree(np.column_stack([self.sx, self.sy]))
        self.model = VARIOGRAM_MODELS.index(ok.variogram_model)
        self.parameters = np.array(ok.variogram_model_parameters, float)

    def candidates(self, x, y):
        """(candidates, starts): the samples block b of the (h, w) coordinate arrays searches are
        candidates[starts[b]:starts[b + 1]]; blocks row by row."""
        h, w = x.shape
        first_rows, first_cols = np.arange(0, h, self.BLOCK), np.arange(0, w, self.BLOCK)
        last_rows, last_cols = np.minimum(first_rows + self.BLOCK, h) - 1, np.minimum(first_cols + self.BLOCK, w) - 1
        corners = [(x[np.ix_(r, c)].ravel(), y[np.ix_(r, c)].ravel())
                   for r in (first_rows, last_rows) for c in (first_cols, last_cols)]
        mx, my = sum(c[0] for c in corners) / 4, sum(c[1] for c in corners) / 4
        reach = np.max([np.hypot(cx - mx, cy - my) for cx, cy in corners], axis=0)  # pixels lie in the corners' hull
        centres = np.column_stack([mx, my])
        kth = self.tree.query(centres, k=self.k, workers=1)[0][:, -1]
        radius = (kth + 2.0 * reach) * (1.0 + 1e-9)  # the slack covers rounding of the distances
        found = self.tree.query_ball_point(centres, radius, workers=1, return_sorted=True)
        starts = np.zeros(len(found) + 1, np.int64)
        np.cumsum([len(f) for f in found], out=starts[1:])
        if np.diff(starts).min() < self.k:  # fewer samples than k, or coordinates that are not numbers: the kernel
            raise ValueError(f"a block of pixels has fewer than {self.k} candidate samples")  # checks no index
        return np.fromiter((i for f in found for i in f), np.int64, starts[-1]), starts

    def krige(self, x, y, want_variance=True):
        """Prediction and Kriging variance (None unless want_variance) at the pixel centres x, y ((h, w) arrays of a
        grid: each block's pixels lie within its four corner pixels' hull), as flat arrays."""
        # pykrige moves pixels as it moved the samples (X_ADJUSTED): to the centre and back, which rounds large
        # coordinates, so a pixel exactly on a sample is on it here too (the eps rule)
        x = np.ascontiguousarray((np.asarray(x, float) - self.ok.XCENTER) + self.ok.XCENTER)
        y = np.ascontiguousarray((np.asarray(y, float) - self.ok.YCENTER) + self.ok.YCENTER)
        candidates, starts = self.candidates(x, y)
        out_z, out_s = np.empty(x.shape), np.empty(x.shape if want_variance else (1, 1))
        self.kernel(x, y, self.BLOCK, candidates, starts, self.sx, self.sy, self.z, self.k, self.model,
                    self.parameters, float(self.ok.eps), want_variance, out_z, out_s)
        return out_z.ravel(), out_s.ravel() if want_variance else None


def leave_one_out(ok, neighbours):
    """Each sample predicted without itself: (predictions, Kriging variances, the largest condition number of the
    systems solved). neighbours=None uses all other samples, through Dubrule's (1983) identity on the inverse of
    the full Kriging matrix."""
    from scipy.spatial import cKDTree

    xy = np.column_stack([ok.X_ADJUSTED, ok.Y_ADJUSTED])
    z = ok.Z
    n = len(z)
    if neighbours is None:
        matrix = ok._get_kriging_matrix(n)  # pykrige's own matrix, so the same variogram
        inverse = np.linalg.inv(matrix)
        diagonal = np.diag(inverse)[:n]
        residual = (inverse @ np.append(z, 0.0))[:n] / diagonal
        return z - residual, 1.0 / diagonal, float(np.linalg.norm(matrix, 1) * np.linalg.norm(inverse, 1))
    dist, idx = cKDTree(xy).query(xy, k=neighbours + 1)
    # Drop each sample itself from its own neighbours (samples never share a location: duplicates are refused).
    others = idx != np.arange(n)[:, None]
    order = np.argsort(~others, axis=1, kind="stable")[:, :neighbours]
    idx, dist = np.take_along_axis(idx, order, 1), np.take_along_axis(dist, order, 1)
    predicted, variance, condition = np.empty(n), np.empty(n), 0.0
    rows = max(1, 2 ** 20 // (neighbours + 1) ** 2)  # batched systems of ~8 MB each, whatever the neighbourhood
    for a in range(0, n, rows):
        part = slice(a, a + rows)
        predicted[part], variance[part], worst = _solve_batch(ok, xy, z, idx[part], dist[part])
        condition = max(condition, worst)
    return predicted, variance, condition


def cross_validation(ok, neighbours):
    """Leave-one-out statistics: RMSE, mean error (bias) and mean absolute error of predicted - measured, and the
    largest condition number of its systems, which are the map's systems around each sample."""
    predicted, variance, condition = leave_one_out(ok, neighbours)
    error = predicted - ok.Z
    return {"rmse": float(np.sqrt(np.mean(error ** 2))), "mean_error": float(error.mean()),
            "mae": float(np.abs(error).mean()), "predicted": predicted, "variance": variance, "condition": condition}


def _refuse_far_samples(samples, grid, inside):
    """Samples that all lie far from the grid (a wrong CRS or extent) would fill it with their mean: refused.
    Far: farther from the grid's centre than its own diagonal, for every sample."""
    if inside.any():
        return
    info = grid.describe("")
    x0, y0, x1, y1 = info["extent"]
    diagonal = np.hypot(x1 - x0, y1 - y0)
    nearest = float(np.min(np.hypot(samples.x - (x0 + x1) / 2, samples.y - (y0 + y1) / 2)))
    if nearest > diagonal:
        raise InputError("EXTENT", f"none of the {len(samples)} samples of INPUT lies in or near the grid (the nearest "
                                   f"is {nearest:.4g} map units from its centre, {nearest / diagonal:.0f} times its "
                                   f"diagonal): check the extent and the layers' coordinate systems.")


def _variogram_candidates(samples, variogram, neighbours, feedback):
    """[(model, OrdinaryKriging or None, cross-validation or None, error text or None)] for the models tried."""
    model, parameters = variogram.model, variogram.parameters
    models = VARIOGRAM_MODELS if model == "auto" else (model,)
    out = []
    for i, m in enumerate(models):
        step(feedback, 0.1 * i / len(models), 1.0)
        try:
            ok = fit_variogram(samples, m, variogram.nlags, variogram.weight, parameters)
            cv = cross_validation(ok, neighbours)
            if not np.isfinite(cv["rmse"]):
                raise np.linalg.LinAlgError("the cross-validation gave no finite error")
            if not cv["condition"] <= CONDITION_LIMIT:
                raise np.linalg.LinAlgError(f"its Kriging systems are ill-conditioned: condition number up to "
                                            f"{cv['condition']:.2g}, above {CONDITION_LIMIT:.0e}, so their weights "
                                            f"would keep fewer than 4 significant digits; a nugget or a shorter range "
                                            f"steadies them")
            out.append((m, ok, cv, None))
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as e:  # pykrige's own failures; ours propagate
            out.append((m, None, None, str(e) or type(e).__name__))
    if not any(ok is not None for _, ok, _, _ in out):
        detail = "; ".join(f"{m}: {err}" for m, _, _, err in out)
        if parameters:
            raise InputError("VARIOGRAM_PARAMETERS", f"the fixed {model} variogram ({parameters}) gives no usable "
                                                     f"Kriging system for '{samples.field}' ({detail}); change the "
                                                     f"parameters or leave them empty to fit them.")
        raise InputError("VARIOGRAM_MODEL", f"no variogram could be fitted to '{samples.field}' ({detail}). Try "
                                            f"another model, more lags (NLAGS), or fixed VARIOGRAM_PARAMETERS.")
    return out


# ---- the whole run -------------------------------------------------------------------------------------

def kriging(samples, grid, output, feedback, output_variance=None, report=None, variogram=Variogram(),
            neighbours=DEFAULT_NEIGHBOURS, window_pixels=None):
    """Krige samples (geochem_samples.numeric_samples, in the grid's CRS) onto grid; write the prediction (and the
    Kriging variance) as float32 GeoTIFFs and, if report is a path, the HTML report with its JSON beside it.
    Returns the summary. variogram: a Variogram; neighbours: samples per pixel (moving neighbourhood), 0 or None
    for all samples; window_pixels: pixels kriged at once (default WINDOW_PIXELS)."""
    ordinary_kriging_class()  # say a missing pykrige before anything else
    crs_name = grid.check_projected()
    variogram.check()
    refuse_duplicates(samples, samples.parameter)
    n = len(samples)
    if neighbours in (None, 0) or neighbours >= n:
        if n > MAX_GLOBAL_SAMPLES:
            raise InputError("N_CLOSEST", f"using all {n} samples for every pixel would solve a {n + 1}-square system "
                                          f"per pixel block; use a moving neighbourhood (e.g. {DEFAULT_NEIGHBOURS}).")
        neighbours = None
    elif neighbours < 2:
        raise InputError("N_CLOSEST", f"{neighbours} neighbour cannot be kriged; use 2 or more (16 is usual), or 0 "
                                      f"for all samples.")
    else:
        pixel_kernel()  # say a missing numba before anything is written
    inside = grid.contains(samples.x, samples.y)
    _refuse_far_samples(samples, grid, inside)
    # The leave-one-out and the all-samples path solve small systems with BLAS: threaded, it spends more time
    # waking threads than solving (5-25x slower on 2 cores); without threadpoolctl, pykrige's loop backend.
    limit, limited = one_blas_thread()
    backend = ("C" if limited else "loop") if neighbours is None else "compiled kernel"
    with OutputTransaction({"OUTPUT": output, "OUTPUT_VARIANCE": output_variance, "OUTPUT_REPORT": report}):
        with limit:
            candidates = _variogram_candidates(samples, variogram, neighbours, feedback)
            fitted = [c for c in candidates if c[1] is not None]
            model, ok, cv, _ = min(fitted, key=lambda c: c[2]["rmse"])
            stats = _write_rasters(ok, grid, output, output_variance, neighbours, backend, feedback,
                                   window_pixels or WINDOW_PIXELS,
                                   {"PROSPECTRA_FIELD": samples.field, "PROSPECTRA_VARIOGRAM": model,
                                    "PROSPECTRA_LOO_RMSE": f"{cv['rmse']:.6g}"})
        feedback.setProgress(100)
        summary = _summary(samples, grid, crs_name, inside, candidates, model, ok, cv, variogram, neighbours,
                           backend, stats, output, output_variance)
        if report:
            write_report(summary, report)
    return summary


def _write_rasters(ok, grid, output, output_variance, neighbours, backend, feedback, window_pixels, metadata):
    per_call = max(256, DISTANCES_PER_CALL // (neighbours or len(ok.Z)))
    geo = (grid.geotransform, grid.projection)
    wins = list(windows(grid.width, grid.height, block_pixels=window_pixels))
    samples = {"prediction": Subsample(grid.width, grid.height), "variance": Subsample(grid.width, grid.height)}
    ranges = {k: [np.inf, -np.inf] for k in samples}
    size = (grid.width, grid.height)
    with bounded_cache(), \
            RasterWriter(output, *size, 1, np.float32, *geo, NODATA, ["kriged " + metadata["PROSPECTRA_FIELD"]]) as w, \
            (RasterWriter(output_variance, *size, 1, np.float32, *geo, NODATA, ["kriging variance"])
             if output_variance else nullcontext()) as wv:
        shared = SharedNeighbourhoods(ok, neighbours) if neighbours else None

        def krige(win):
            xs, ys = grid.centres(win)
            if shared is not None:
                return shared.krige(xs.reshape(win[3], win[2]), ys.reshape(win[3], win[2]), wv is not None)
            z, s = np.empty(xs.size), np.empty(xs.size)  # every sample for every pixel: pykrige, bounded chunks
            for a in range(0, xs.size, per_call):
                z[a:a + per_call], s[a:a + per_call] = ok.execute("points", xs[a:a + per_call], ys[a:a + per_call],
                                                                  backend=backend)
            return z, s

        # Two windows in flight: numpy and the tree search release the GIL, so both cores work.
        with ThreadPoolExecutor(2 if shared is not None else 1) as pool:
            pending = deque(pool.submit(krige, win) for win in wins[:2])
            try:
                for i, win in enumerate(wins):
                    step(feedback, 0.1 * len(wins) + 0.9 * i, len(wins))
                    z, s = pending.popleft().result()
                    if i + 2 < len(wins):
                        pending.append(pool.submit(krige, wins[i + 2]))
                    _write_window(win, z, s, w, wv, ranges, samples)
            except BaseException:  # cancel, or a failed window: the window queued behind it is dropped
                for future in pending:
                    future.cancel()
                raise
        for writer in (w, wv):
            if writer is not None:
                writer.set_metadata(metadata)
    return {k: {"min": ranges[k][0], "max": ranges[k][1], "stretch": cumulative_cut(samples[k].values())}
            for k in samples if k == "prediction" or output_variance}


def _write_window(win, z, s, w, wv, ranges, samples):
    """Write one window's prediction (and variance), and note its range and a subsample for the stretch."""
    shape = (win[3], win[2])
    for name, values, writer in (("prediction", z, w), ("variance", s, wv)):
        if writer is None:
            continue
        block = values.reshape(shape).astype(np.float32)
        if name == "variance":  # at a sample it is 0, which rounding takes to -1e-12: no variance is below 0
            block = np.maximum(block, 0)
        writer.write(0, win[0], win[1], block)
        finite = np.isfinite(block)
        if finite.any():
            ranges[name] = [min(ranges[name][0], float(block[finite].min())),
                            max(ranges[name][1], float(block[finite].max()))]
        samples[name].add(win, block, finite)


def _summary(samples, grid, crs_name, inside, candidates, model, ok, cv, variogram, neighbours, backend, stats,
             output, output_variance):
    import pykrige

    stat = samples.statistics()
    lags = np.asarray(ok.lags, dtype=float)
    return {
        "field": samples.field,
        "samples": {**stat, "points": samples.counts["points"], "without_value": samples.counts["no_value"],
                    "used": len(samples), "outside_grid": int((~inside).sum()), "inside_grid": int(inside.sum())},
        "grid": grid.describe(crs_name),
        "variogram": {"model": model, "parameters": named_parameters(ok),
                      "chosen_by": ("lowest leave-one-out RMSE among " + ", ".join(c[0] for c in candidates)
                                    if variogram.model == "auto" else "given"),
                      "fitted": variogram.parameters is None, "nlags": variogram.nlags,
                      "weighted_fit": bool(variogram.weight),
                      "experimental": {"lag": lags.tolist(), "semivariance": np.asarray(ok.semivariance).tolist()}},
        "neighbourhood": {"neighbours": neighbours, "description": (f"moving: the {neighbours} nearest samples"
                                                                     if neighbours else "all samples")},
        "cross_validation": {
            "method": "leave-one-out with the variogram fitted on all samples, same neighbourhood as the map",
            "rmse": cv["rmse"], "mean_error": cv["mean_error"], "mae": cv["mae"], "sample_sd": stat["sd"],
            "rmse_over_sd": cv["rmse"] / stat["sd"], "largest_condition_number": cv["condition"],
            "models": [{"model": m, "rmse": c["rmse"] if c else None, "mean_error": c["mean_error"] if c else None,
                        "mae": c["mae"] if c else None, "parameters": named_parameters(o) if o else None,
                        "error": err} for m, o, c, err in candidates],
            "per_sample": {"x": samples.x, "y": samples.y, "measured": samples.values, "predicted": cv["predicted"],
                           "kriging_variance": cv["variance"]}},
        "rasters": stats,
        "outputs": {"prediction": output, "variance": output_variance},
        "software": {"pykrige": pykrige.__version__, "backend": backend},
    }


# ---- the report ----------------------------------------------------------------------------------------

REFERENCES = [
    "Matheron G. (1963). Principles of geostatistics. Economic Geology 58, 1246-1266.",
    "Cressie N. (1993). Statistics for Spatial Data, revised edition. Wiley (ordinary Kriging; cross-validation).",
    "Dubrule O. (1983). Cross validation of kriging in a unique neighborhood. Mathematical Geology 15, 687-699.",
    "Murphy B., Mueller S., Yurchak R. et al. PyKrige: Kriging toolkit for Python, "
    "https://github.com/GeoStat-Framework/PyKrige (the library used).",
    "Cheng G. et al. (2023). Research on quantitative inversion of ion adsorption type rare earth ore based on "
    "convolutional neural network. Frontiers in Earth Science, doi:10.3389/feart.2022.1086325 (section 2.4: "
    "samples kriged onto the image grid, the 'surface-to-surface' sample set).",
]


def _variogram_png(summary, ok_function):
    plt = figure()
    if plt is None:
        return NO_PLOT
    v = summary["variogram"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    lag, sv = v["experimental"]["lag"], v["experimental"]["semivariance"]
    ax.plot(lag, sv, "o", color="#2b83ba", label="experimental (pykrige lags)")
    d = np.linspace(0, max(lag) * 1.05 if lag else 1.0, 200)
    ax.plot(d, ok_function(d), "-", color="#d7191c", label=f"{v['model']} model")
    ax.set_xlabel("lag distance (map units)")
    ax.set_ylabel("semivariance")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return png(fig, "variogram")


def _loo_png(summary):
    plt = figure()
    if plt is None:
        return NO_PLOT
    cv = summary["cross_validation"]
    measured, predicted = np.asarray(cv["per_sample"]["measured"]), np.asarray(cv["per_sample"]["predicted"])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(measured, predicted, ".", ms=4, alpha=0.6, color="#2b83ba")
    lo, hi = float(min(measured.min(), predicted.min())), float(max(measured.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], "-", color="#888", lw=1)
    ax.set_xlabel(f"measured {summary['field']}")
    ax.set_ylabel("leave-one-out prediction")
    ax.set_title(f"RMSE {cv['rmse']:.4g} (sample SD {cv['sample_sd']:.4g})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return png(fig, "leave-one-out predictions against measured values")


def write_report(summary, html_path):
    """The HTML report and its JSON (same name, .json); returns the JSON path."""
    s, v, cv, g = summary["samples"], summary["variogram"], summary["cross_validation"], summary["grid"]
    model = v["model"]
    p = v["parameters"]
    # The fitted curve for the plot, from pykrige's own variogram function of the chosen model.
    from pykrige import variogram_models as vm

    function = getattr(vm, f"{model}_variogram_model")
    order = [p[n] for n in PARAMETER_NAMES[model]]
    weighted = ", short lags weighted" if v["weighted_fit"] else ""
    how = f"fitted by pykrige (least squares on {v['nlags']} lags{weighted})" if v["fitted"] else "given"
    rows = []
    for m in cv["models"]:
        mark = " (chosen)" if m["model"] == model else ""
        rows.append([esc(m["model"] + mark), fmt(m["rmse"]), fmt(m["mean_error"]), fmt(m["mae"]),
                     esc(", ".join(f"{k} {fmt(x)}" for k, x in m["parameters"].items())) if m["parameters"]
                     else esc("fit failed: " + (m["error"] or ""))])
    body = (
        f"<p>Ordinary Kriging of <b>{esc(summary['field'])}</b> onto a grid of {g['width']} x {g['height']} pixels "
        f"of {fmt(g['pixel_size'][0])} x {fmt(g['pixel_size'][1])} ({esc(g['crs'])}), with pykrige "
        f"{esc(summary['software']['pykrige'])}; neighbourhood: {esc(summary['neighbourhood']['description'])}.</p>"
        "<h2>Samples</h2>"
        + table(["", "value"], [
            ["points in the layer", s["points"]], ["without a value (skipped)", s["without_value"]],
            ["used", s["used"]], ["outside the grid (used: they inform the prediction)", s["outside_grid"]],
            ["mean", fmt(s["mean"])], ["standard deviation (n-1)", fmt(s["sd"])], ["minimum", fmt(s["min"])],
            ["median", fmt(s["median"])], ["maximum", fmt(s["max"])]])
        + "<h2>Variogram</h2>"
        f"<p>Model <b>{esc(model)}</b> ({esc(v['chosen_by'])}); parameters {esc(how)}: "
        + esc(", ".join(f"{k} {fmt(x)}" for k, x in p.items())) + ".</p>"
        + _variogram_png(summary, lambda d: function(order, d))
        + "<h2>Leave-one-out cross-validation</h2>"
        f"<p>Each sample predicted from the others (variogram fitted on all samples, "
        f"{esc(summary['neighbourhood']['description'])}). RMSE <b>{fmt(cv['rmse'])}</b>, mean error "
        f"{fmt(cv['mean_error'])}, mean absolute error {fmt(cv['mae'])}; for comparison the sample standard "
        f"deviation is {fmt(cv['sample_sd'])} (RMSE / SD = {cv['rmse_over_sd']:.3f}: below 1, Kriging predicts "
        f"better than the sample mean). Largest condition number of these systems {cv['largest_condition_number']:.2g} "
        f"(runs refuse above {CONDITION_LIMIT:.0e}).</p>"
        + table(["model", "RMSE", "mean error", "MAE", "parameters"], rows)
        + _loo_png(summary)
        + "<h2>Outputs</h2>"
        + table(["raster", "file", "minimum", "maximum"],
                [[k, esc(summary["outputs"][k]), fmt(r["min"]), fmt(r["max"])]
                 for k, r in summary["rasters"].items()], left=2)
        + "<h2>References</h2><ul>" + "".join(f"<li>{esc(r)}</li>" for r in REFERENCES) + "</ul>")
    write_file(html_path, page(f"Kriging of {summary['field']}", body))
    path = json_path(html_path)
    write_json(path, summary)
    return path
