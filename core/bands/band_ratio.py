"""Band ratio in reflectance: sum(numerator bands) / sum(denominator bands), block by block."""
import numpy as np

from .band_composite import cumulative_cut
from ..io.blocks import RasterWriter, Subsample, bounded_cache
from ..errors import InputError

RATIO_NODATA = -9999.0


def ratio_block(bands, valid, numerator, denominator):
    """Ratio of one block and its validity; nodata where an input is nodata or the denominator is not positive.

    Reflectance is never negative or zero in a real denominator: such values are noise
    near zero (or fill), and dividing by them gives huge or sign-flipped ratios."""
    num = bands[numerator[0]] if len(numerator) == 1 else np.sum([bands[b] for b in numerator], axis=0)
    den = bands[denominator[0]] if len(denominator) == 1 else np.sum([bands[b] for b in denominator], axis=0)
    ok = valid & (den > 0)
    out = np.full(num.shape, RATIO_NODATA, dtype=np.float32)
    np.divide(num, den, out=out, where=ok)
    ok &= np.isfinite(out)
    out[~ok] = RATIO_NODATA
    return out, ok


def band_ratio(image, numerator, denominator, output, feedback, description="ratio", cut=(2.0, 98.0)):
    """Write the ratio raster; returns {'valid_pixels', 'min', 'max', 'stretch': (lo, hi) of the cumulative cut}."""
    numerator = image.require(numerator, "NUMERATOR")
    denominator = image.require(denominator, "DENOMINATOR")
    needed = list(dict.fromkeys(numerator + denominator))
    sample = Subsample(image.width, image.height)
    count, lo, hi = 0, np.inf, -np.inf
    with bounded_cache(), RasterWriter(output, image.width, image.height, 1, np.float32, image.geotransform,
                                       image.projection, RATIO_NODATA, [description]) as w:
        for win, stack, valid in image.blocks(needed, feedback):
            out, ok = ratio_block(dict(zip(needed, stack)), valid, numerator, denominator)
            w.write(0, win[0], win[1], out)
            n = int(np.count_nonzero(ok))
            if n:
                count += n
                good = out[ok]
                lo, hi = min(lo, float(good.min())), max(hi, float(good.max()))
                sample.add(win, out, ok)
        if count == 0:
            raise InputError("INPUT", "no pixel has valid data in the bands the ratio needs "
                                      f"({', '.join(needed)}): the image is all nodata there, or the "
                                      "denominator is zero everywhere.")
        w.set_metadata({"PROSPECTRA_FORMULA": f"({'+'.join(numerator)}) / ({'+'.join(denominator)})",
                        "PROSPECTRA_SCALING": image.scaling_source})
    feedback.setProgress(100)
    return {"valid_pixels": count, "min": lo, "max": hi, "stretch": cumulative_cut(sample.values(), *cut)}
