"""Three-band false-colour composite in reflectance, with a cumulative-cut stretch."""
from contextlib import nullcontext

import numpy as np

from ..io.blocks import RasterWriter, bounded_cache
from ..errors import InputError

COMPOSITE_NODATA = -9999.0


def cumulative_cut(values, lower=2.0, upper=98.0):
    """(low, high) percentiles of the valid values, as QGIS's cumulative count cut."""
    if values.size == 0:
        return None
    lo, hi = np.percentile(values, [lower, upper])
    return float(lo), float(hi)


def stretch_to_byte(band, valid, lo, hi):
    """Linear stretch of reflectance lo..hi to 1..255; 0 is nodata."""
    scale = 254.0 / (hi - lo) if hi > lo else 0.0
    with np.errstate(invalid="ignore", over="ignore"):  # NaN or huge where invalid: those pixels become 0 below
        out = np.clip((band - lo) * scale + 1.0, 1, 255).astype(np.uint8)
    out[~valid] = 0
    return out


def composite_stretch(image, rgb, cut=(2.0, 98.0)):
    """(lo, hi) per band of the cut, from a decimated read of at most 1 Mpixel (QGIS samples 250 000)."""
    sample, sample_valid = image.sample(rgb)
    stretch = [cumulative_cut(sample[b][sample_valid], *cut) for b in rgb]
    if stretch[0] is None:
        raise InputError("INPUT", f"no pixel has valid data in bands {', '.join(rgb)}: the image is all nodata there.")
    return stretch


def band_composite(image, rgb, output, feedback, cut=(2.0, 98.0), output_byte=None, stretch=None):
    """Write R, G, B reflectance (float32) and optionally a stretched 8-bit copy.

    Returns {'stretch': [(lo, hi)] * 3} so the caller can style the layer with the same cut. stretch: the cut
    decided already (a cluster's tiles take the whole image's), else composite_stretch of this image."""
    rgb = image.require(rgb, "BANDS")
    stretch = stretch or composite_stretch(image, rgb, cut)
    args = (image.width, image.height, 3)
    geo = (image.geotransform, image.projection)
    with bounded_cache(), RasterWriter(output, *args, np.float32, *geo, COMPOSITE_NODATA, rgb) as w, \
            (RasterWriter(output_byte, *args, np.uint8, *geo, 0, rgb) if output_byte else nullcontext()) as wb:
        any_valid = False
        for win, stack, valid in image.blocks(rgb, feedback):
            any_valid |= bool(valid.any())
            for k, band in enumerate(stack):
                w.write(k, win[0], win[1], np.where(valid, band, np.float32(COMPOSITE_NODATA)))
                if wb:
                    wb.write(k, win[0], win[1], stretch_to_byte(band, valid, *stretch[k]))
        if not any_valid:
            raise InputError("INPUT", f"no pixel has valid data in bands {', '.join(rgb)}.")
        meta = {"PROSPECTRA_BANDS": "-".join(rgb), "PROSPECTRA_SCALING": image.scaling_source,
                "PROSPECTRA_STRETCH": ";".join(f"{lo:.6g},{hi:.6g}" for lo, hi in stretch)}
        w.set_metadata(meta)
        if wb:
            wb.set_metadata(meta)
    feedback.setProgress(100)
    return {"stretch": stretch}

