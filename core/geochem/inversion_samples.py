"""Sample sets for content inversion (Cheng et al. 2023, section 2.4).

Point-to-pixel: each sample's measured content against the reflectance of the pixel under it.
Surface-to-surface: the samples are kriged onto the image grid, and every pixel near the samples pairs its
reflectance with its kriged content, so the model sees the whole sampled surface instead of a few hundred
pixels. 'Near' is within twice the median nearest-neighbour spacing of the samples: farther out the
kriged surface is little more than the mean."""
import os
import tempfile

import numpy as np
from osgeo import gdal

from ..io.blocks import windows
from ..errors import InputError, NullFeedback
from .geochem_samples import check_spectra, numeric_samples
from ..io.image import pixel_of, sample_image
from .kriging import Grid, kriging

NODATA_IS = "its nodata value, NaN, or a fill value below any reflectance such as -9999"
MAX_SURFACE_SAMPLES = 20_000  # enough to fit every model; more only slows the CNN and the forests


def point_samples(image, bands, x, y, values, field):
    samples = numeric_samples(x, y, values, field, points_parameter="POINTS", purpose="fit a model of")
    spectra, status = sample_image(image, bands, samples.x, samples.y)
    ok = status == "ok"
    if ok.sum() < 10:
        outside, nodata = int((status == "outside").sum()), int((status == "nodata").sum())
        raise InputError("INPUT" if nodata > outside else "POINTS",
                         f"only {int(ok.sum())} samples fall on valid pixels of the image ({outside} outside, "
                         f"{nodata} on nodata: {NODATA_IS}); at least 10 are needed.")
    col, row = pixel_of(image.geotransform, samples.x[ok], samples.y[ok])
    check_spectra(spectra[ok], col, row, "fit a model of")
    info = {"method": "point-to-pixel", "samples": len(samples), "used": int(ok.sum()),
            "outside": int((status == "outside").sum()), "nodata": int((status == "nodata").sum())}
    return spectra[ok], samples.values[ok], row, col, info, (samples.x[ok], samples.y[ok])


def sample_reach(x, y):
    """How far the kriged surface is taken to carry a sample set's information: twice the median nearest-neighbour
    spacing of the samples (map units)."""
    from scipy.spatial import cKDTree  # scipy is optional for the plugin as a whole

    points = np.column_stack([x, y])
    return 2.0 * float(np.median(cKDTree(points).query(points, k=2)[0][:, 1]))


def surface_samples(image, bands, x, y, values, field, feedback=None, max_samples=MAX_SURFACE_SAMPLES, seed=0,
                    away_from=None, reach=None):
    """(spectra (n, bands), kriged content (n,), rows, cols, info) from pixels within reach (default: sample_reach
    of these samples) of the samples; away_from: (x, y) of held-out samples, whose pixels within reach are left out
    (the model must not learn their surroundings)."""
    feedback = feedback or NullFeedback()
    samples = numeric_samples(x, y, values, field, points_parameter="POINTS", purpose="fit a model of")
    grid = Grid(image.width, image.height, image.geotransform, image.projection, "INPUT")
    inside = grid.contains(samples.x, samples.y)
    if inside.sum() < 10:
        raise InputError("POINTS", f"only {int(inside.sum())} of the {len(samples)} samples fall inside the image; "
                                   f"at least 10 are needed.")
    from scipy.spatial import cKDTree  # scipy is optional for the plugin as a whole

    tree = cKDTree(np.column_stack([samples.x, samples.y]))
    held = cKDTree(np.column_stack(away_from)) if away_from is not None and len(away_from[0]) else None
    reach = reach or sample_reach(samples.x, samples.y)
    tmp = tempfile.mkdtemp(prefix="prospectra-surface-")
    surface = os.path.join(tmp, "kriged.tif")
    try:
        summary = kriging(samples, grid, surface, feedback)
        near = []  # per window: flat indices of pixels within reach of a sample
        wins = list(windows(image.width, image.height))
        for win in wins:
            centres = np.column_stack(grid.centres(win))
            close = tree.query(centres, distance_upper_bound=reach)[0] <= reach
            if held is not None:
                close &= held.query(centres, distance_upper_bound=reach)[0] > reach
            near.append(np.flatnonzero(close))
        total = sum(len(n) for n in near)
        if total == 0:
            raise InputError("POINTS", "no pixel of the image lies near the samples.")
        keep = min(1.0, max_samples / total)
        rng = np.random.default_rng(seed)
        ds = gdal.Open(surface)
        kriged_band = ds.GetRasterBand(1)
        out_x, out_y, out_r, out_c = [], [], [], []
        for win, idx in zip(wins, near):
            if not len(idx):
                continue
            idx = idx[rng.random(len(idx)) < keep]
            stack, valid = image.read_stack(bands, win)
            content = kriged_band.ReadAsArray(*win).ravel()
            flat = stack.reshape(len(bands), -1)
            idx = idx[valid.ravel()[idx]]
            out_x.append(flat[:, idx].T)
            out_y.append(content[idx].astype(np.float64))
            out_r.append(win[1] + idx // win[2])
            out_c.append(win[0] + idx % win[2])
        ds = None
    finally:
        for fn in os.listdir(tmp):
            os.remove(os.path.join(tmp, fn))
        os.rmdir(tmp)
    info = {"method": "surface-to-surface (kriged)", "samples": len(samples), "inside": int(inside.sum()),
            "pixels_near_samples": int(total), "reach": reach, "used": int(sum(len(v) for v in out_y)),
            "variogram": summary["variogram"]["model"], "kriging_loo_rmse": summary["cross_validation"]["rmse"],
            "sample_sd": summary["cross_validation"]["sample_sd"]}
    spectra, rows, cols = np.concatenate(out_x), np.concatenate(out_r), np.concatenate(out_c)
    if not len(spectra):
        raise InputError("INPUT", f"all {total} pixels near the samples are nodata in the image ({NODATA_IS}): "
                                  f"nothing to fit.")
    check_spectra(spectra, cols, rows, "fit a model of")
    return spectra, np.concatenate(out_y), rows, cols, info
