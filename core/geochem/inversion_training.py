"""Training a content inversion model from an image and point samples: the sample set (kriged surface or the pixel
under each point), the held-out split, the candidate models, the chosen model as ONNX and the report."""
import os

import numpy as np

from ..errors import InputError
from ..io.outputs import OutputTransaction
from ..report.inversion_report import write_inversion_report
from .inversion import MIN_SAMPLES, blocked_split, export_onnx, fit_models, rating, spatial_blocks
from .inversion_samples import point_samples, surface_samples


def _check_split(content, groups, test, spatial, block):
    """Enough samples on each side of the split, or an error naming the parameter that decides it."""
    n, train = len(content), int((~test).sum())
    if train >= MIN_SAMPLES and test.sum() >= 2:
        return
    if n < MIN_SAMPLES + 2:
        raise InputError("POINTS", f"{n} samples with a value lie on the image; at least {MIN_SAMPLES + 2} are needed "
                                   f"to fit a model on {MIN_SAMPLES} and judge it on 2.")
    if spatial and len(np.unique(groups)) < 2:
        raise InputError("BLOCK_SIZE", f"all {n} samples fall in one spatial block of {block} x {block} pixels, so no "
                                       f"block is left to test on (or to train on); choose a smaller BLOCK_SIZE.")
    raise InputError("TEST_FRACTION", f"the split leaves {train} training and {int(test.sum())} test samples of {n}; "
                                      f"at least {MIN_SAMPLES} and 2 are needed: change TEST_FRACTION"
                                      + (" or BLOCK_SIZE." if spatial else "."))

def train_inversion(image, x, y, values, field, unit, keys, surface, max_samples, spatial, block, fraction, seed,
                    model_path, report_path, feedback):
    """Fit the models named by keys on samples of field, hold out a fraction (whole spatial blocks of block pixels,
    or random samples), write the one with the lowest cross-validated RMSE as ONNX and the report beside it.
    Returns (fits, chosen)."""
    if not keys:
        raise InputError("MODELS", "choose at least one model to fit.")
    bands = image.band_names
    if surface:
        feedback.pushInfo("Kriging the samples onto the image grid ...")
        spectra, content, rows, cols, info = surface_samples(image, bands, x, y, values, field, feedback,
                                                             max_samples, seed)
    else:
        spectra, content, rows, cols, info = point_samples(image, bands, x, y, values, field)
    if spatial:
        groups = spatial_blocks(rows, cols, block)
        split = f"whole spatial blocks of {block} x {block} pixels, {fraction:.0%} held out"
    else:
        groups = np.arange(len(content))
        split = f"random samples, {fraction:.0%} held out"
    test = blocked_split(groups, fraction, seed)
    _check_split(content, groups, test, spatial, block)
    fits, notes = fit_models(spectra, content, groups, test, keys, seed, feedback)
    for n in notes:
        feedback.pushInfo(f"Warning: {n}")
    chosen = fits[0]
    for f in fits:
        feedback.pushInfo(f"{f.name}: held out R2 {f.test['r2']:.3f}, RMSE {f.test['rmse']:.4g}, RPD "
                          f"{f.test['rpd']:.2f} ({rating(f.test)}); CV RMSE {f.cv_rmse:.4g}")
    folds = "whole spatial blocks" if spatial else "random samples"
    with OutputTransaction({"OUTPUT_MODEL": model_path, "OUTPUT_REPORT": report_path}):  # the model and its report
        export_onnx(chosen, model_path, bands, image.sensor.id, image.scaling_source, field, unit,
                    f"{info['used']} samples ({info['method']}) from {os.path.basename(image.sources[0])}",
                    (content[~test].min(), content[~test].max()))
        write_inversion_report(report_path, fits, chosen, info, split, folds, field, unit, content, test, notes)
    return fits, chosen
