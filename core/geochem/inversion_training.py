"""Training a content inversion model from an image and point samples: the sample set (kriged surface or the pixel
under each point), the held-out split, the candidate models, the chosen model as ONNX and the report."""
import math
import os

import numpy as np

from ..errors import InputError
from ..io.outputs import OutputTransaction
from ..report.inversion_report import write_inversion_report
from .inversion import MIN_SAMPLES, blocked_split, export_onnx, fit_models, rating, spatial_blocks
from ..io.image import pixel_of
from .geochem_samples import numeric_samples, refuse_duplicates
from .inversion_samples import point_samples, sample_reach, surface_samples


def _check_split(content, groups, test, spatial, block, widened):
    """Enough samples on each side of the split, or an error naming the parameter that decides it."""
    n, train = len(content), int((~test).sum())
    if train >= MIN_SAMPLES and test.sum() >= 2:
        return
    if n < MIN_SAMPLES + 2:
        raise InputError("POINTS", f"{n} samples with a value lie on the image; at least {MIN_SAMPLES + 2} are needed "
                                   f"to fit a model on {MIN_SAMPLES} and judge it on 2.")
    if spatial and len(np.unique(groups)) < 2:
        if widened:
            raise InputError("SPLIT", f"all {n} samples fall in one spatial block of {block} x {block} pixels, twice "
                                      f"the reach of the kriged surface, so no block is left to test on (or to train "
                                      f"on); split random samples, or choose the point-to-pixel SAMPLE_SET.")
        raise InputError("BLOCK_SIZE", f"all {n} samples fall in one spatial block of {block} x {block} pixels, so no "
                                       f"block is left to test on (or to train on); choose a smaller BLOCK_SIZE.")
    raise InputError("TEST_FRACTION", f"the split leaves {train} training and {int(test.sum())} test samples of {n}; "
                                      f"at least {MIN_SAMPLES} and 2 are needed: change TEST_FRACTION"
                                      + (" or BLOCK_SIZE." if spatial else "."))


def train_inversion(image, x, y, values, field, unit, keys, surface, max_samples, spatial, block, fraction, seed,
                    model_path, report_path, feedback, training_data=None):
    """Fit the models named by keys on samples of field, hold out a fraction of the samples (whole spatial blocks
    of block pixels, or random samples), write the one with the lowest cross-validated RMSE as ONNX and the report
    beside it. Returns (fits, chosen). training_data: what the model's metadata says it learnt from (default: the
    pixels, the samples and the image).

    The held-out samples are measurements the model never saw, judged by their own pixel and measured value. With
    the surface sample set, the surface it learns from is kriged from the training samples alone and leaves out
    the pixels within its reach of a held-out sample; and the blocks are at least twice that reach, so that
    neighbouring blocks' kriged values come mostly from different samples (pixels of one surface kriged from every
    sample, split in 16-pixel blocks, let a Random Forest score a held-out R2 of 0.27 on spectra unrelated to the
    content, 0.47 split at random)."""
    if not keys:
        raise InputError("MODELS", "choose at least one model to fit.")
    bands = image.band_names
    spectra, content, rows, cols, info, (px, py) = point_samples(image, bands, x, y, values, field)
    widened = False
    if surface:  # every sample with a value informs the surface, those off the image or on nodata too
        everything = numeric_samples(x, y, values, field, points_parameter="POINTS", purpose="fit a model of")
        refuse_duplicates(everything, "POINTS")  # before the split, so that a refusal does not hang on the seed
        reach = sample_reach(everything.x, everything.y)
        if spatial and 2 * reach / abs(image.geotransform[1]) > block:
            block, widened = math.ceil(2 * reach / abs(image.geotransform[1])), True
            feedback.pushInfo(f"Spatial blocks of {block} pixels, twice the reach of the kriged surface (BLOCK_SIZE "
                              f"is smaller).")
    if spatial:
        groups = spatial_blocks(rows, cols, block)
        split = f"whole spatial blocks of {block} x {block} pixels, {fraction:.0%} of the samples held out"
    else:
        groups = np.arange(len(content))
        split = f"random samples, {fraction:.0%} held out"
    test = blocked_split(groups, fraction, seed)
    _check_split(content, groups, test, spatial, block, widened)
    if surface:
        held = set(zip(px[test].tolist(), py[test].tolist()))
        kriged = np.array([p not in held for p in zip(everything.x.tolist(), everything.y.tolist())])
        sx, sy = everything.x[kriged], everything.y[kriged]
        feedback.pushInfo(f"Kriging the {len(sx)} training samples onto the image grid ...")
        s_spectra, s_content, s_rows, s_cols, s_info = surface_samples(
            image, bands, sx, sy, everything.values[kriged], field, feedback, max_samples, seed,
            away_from=(px[test], py[test]), reach=reach)
        info = dict(s_info, held_out_samples=int(test.sum()), off_image_or_nodata=len(everything) - len(content))
        # Cross-validation folds by sample: each pixel in the fold of the training sample nearest to it, so that
        # a fold's pixels are not kriged from the samples of the pixels it is judged against.
        from scipy.spatial import cKDTree

        gt = image.geotransform
        col, row = pixel_of(gt, sx, sy)
        of_sample = spatial_blocks(row, col, block) if spatial else np.arange(len(sx))
        centres = np.column_stack([gt[0] + (s_cols + 0.5) * gt[1] + (s_rows + 0.5) * gt[2],
                                   gt[3] + (s_cols + 0.5) * gt[4] + (s_rows + 0.5) * gt[5]])
        nearest = cKDTree(np.column_stack([sx, sy])).query(centres)[1]
        spectra = np.concatenate([s_spectra, spectra[test]])
        content = np.concatenate([s_content, content[test]])
        groups = np.concatenate([of_sample[nearest], groups[test]])
        test = np.arange(len(content)) >= len(s_content)
    fits, notes = fit_models(spectra, content, groups, test, keys, seed, feedback)
    if fits[0].test["r2"] < 0:  # the model is still written: the user decides, told what it is worth
        notes = notes + [f"the chosen model ({fits[0].name}) predicts the held-out samples worse than their mean "
                         f"does (R2 {fits[0].test['r2']:.3f}): its map says nothing about {field} that the mean "
                         f"would not. Check that the bands relate to {field} (bandcorrelation) before mapping with it."]
    for n in notes:
        feedback.pushWarning(n)
    chosen = fits[0]
    for f in fits:
        feedback.pushInfo(f"{f.name}: held out R2 {f.test['r2']:.3f}, RMSE {f.test['rmse']:.4g}, RPD "
                          f"{f.test['rpd']:.2f} ({rating(f.test)}); CV RMSE {f.cv_rmse:.4g}")
    folds = "whole spatial blocks" if spatial else "random samples"
    with OutputTransaction({"OUTPUT_MODEL": model_path, "OUTPUT_REPORT": report_path}):  # the model and its report
        export_onnx(chosen, model_path, bands, image.sensor.id, image.scaling_source, field, unit,
                    training_data or ((f"{int((~test).sum())} pixels of a surface kriged from {info['samples']} "
                                       f"samples" if surface else f"{int((~test).sum())} samples (point-to-pixel)")
                                      + f" from {os.path.basename(image.sources[0])}"),
                    (content[~test].min(), content[~test].max()))
        write_inversion_report(report_path, fits, chosen, info, split, folds, field, unit, content, test, notes)
    return fits, chosen
