"""Geochemical point samples as the engine takes them: coordinates in the raster's CRS and one numeric value
each, checked once (numbers, enough of them, not constant, no two at one place) so Kriging and band
correlation refuse the same bad inputs with the same sentences."""
import math

import numpy as np

from ..errors import InputError
from ..io.image import FILL_VALUES, HIGHEST_REFLECTANCE

MIN_SAMPLES = 10  # fewer give no usable variogram and no meaningful correlation test
SAME_PLACE = 1e-3  # samples closer than this (map units: 1 mm in a metric CRS) count as one location
SAME_PLACE_DEGREES = 1e-8  # the same in a geographic CRS (about 1 mm; 1e-3 degrees is some 100 m)


class Samples:
    """x, y, values: float64 arrays of the samples that have a value; counts: what was dropped and why."""

    def __init__(self, x, y, values, field, counts, parameter="INPUT"):
        self.x, self.y, self.values, self.field, self.counts = x, y, values, field, counts
        self.parameter = parameter  # the point layer's parameter, named in errors about where samples lie

    def __len__(self):
        return len(self.values)

    def statistics(self):
        v = self.values
        return {"n": len(v), "mean": float(v.mean()), "sd": float(v.std(ddof=1)), "min": float(v.min()),
                "median": float(np.median(v)), "max": float(v.max())}


def _number(value, field, parameter):
    """float(value), None for a missing value; text is an error (a text field is not a measurement)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise InputError(parameter, f"'{field}' holds true/false values, not measurements; choose a numeric field.")
    if isinstance(value, (str, bytes)):
        raise InputError(parameter, f"'{field}' holds text (for example '{value}'), not numbers; choose a numeric "
                                    f"field (integer or decimal), or convert it with the field calculator.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(parameter, f"'{field}' holds values that are not numbers (for example {value!r}); "
                                    f"choose a numeric field.") from None
    return None if math.isnan(v) else v


def numeric_samples(x, y, values, field, parameter="FIELD", points_parameter="INPUT", minimum=MIN_SAMPLES,
                    purpose="interpolate"):
    """Samples with a value in field; errors for text, too few values or a constant field."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(values) < minimum:
        raise InputError(points_parameter, f"the layer has {len(values)} sample points; at least {minimum} are "
                                           f"needed to {purpose} '{field}'.")
    numbers = [_number(v, field, parameter) for v in values]
    has_value = np.array([v is not None for v in numbers]) & np.isfinite(x) & np.isfinite(y)
    v = np.array([n for n, ok in zip(numbers, has_value) if ok], dtype=np.float64)
    counts = {"points": len(values), "no_value": int(len(values) - has_value.sum())}
    if len(v) < minimum:
        raise InputError(parameter, f"'{field}' has a value at only {len(v)} of the {len(values)} sample points "
                                    f"({counts['no_value']} are empty); at least {minimum} are needed to {purpose} it.")
    fill = np.isin(v, FILL_VALUES)
    if fill.any():
        raise InputError(parameter, f"'{field}' holds {v[fill][0]:g} at {int(fill.sum())} of the samples, a value data "
                                    f"sets write where a measurement is missing; empty those values (NULL) or "
                                    f"correct them, so that they are not taken as measurements.")
    if not np.isfinite(v).all() or np.abs(v).max() > 1e100:  # squared differences must stay finite in a variogram
        bad = v[~np.isfinite(v) | (np.abs(v) > 1e100)][0]
        raise InputError(parameter, f"'{field}' holds {bad:g}, which is no measurement; remove or correct it "
                                    f"(values must be finite and below 1e100 in size).")
    if 0 < v.max() - v.min() < 1e-100:  # squared differences of 1e-200 and less: at the edge of double precision
        raise InputError(parameter, f"'{field}' varies by only {v.max() - v.min():.3g}; values so small cannot be "
                                    f"modelled in double precision: rescale the field first (e.g. to ppm or ppb).")
    if v.min() == v.max():
        raise InputError(parameter, f"'{field}' is {v[0]:g} at every one of the {len(v)} samples: a constant field "
                                    f"has no variation to {purpose}; choose another field.")
    return Samples(x[has_value], y[has_value], v, field, counts, points_parameter)


def refuse_duplicates(samples, parameter="INPUT", need="Kriging needs one value per location", degrees=False):
    """Two samples at one location make the Kriging system singular, and count twice in a correlation: say how
    many and where, why it matters (need) and what to do. degrees: the coordinates are longitude and latitude."""
    from scipy.spatial import cKDTree

    pairs = cKDTree(np.column_stack([samples.x, samples.y])).query_pairs(
        SAME_PLACE_DEGREES if degrees else SAME_PLACE, output_type="ndarray")
    if len(pairs):
        involved = np.unique(pairs)
        i, j = pairs[0]
        raise InputError(parameter, f"{len(involved)} samples of '{samples.field}' share their location with another "
                                    f"sample ({len(pairs)} pairs; the first at x={samples.x[i]:.3f}, "
                                    f"y={samples.y[i]:.3f}, values {samples.values[i]:g} and {samples.values[j]:g}). "
                                    f"{need}: average the duplicates first (e.g. "
                                    f"'Aggregate' grouped by the coordinates) or remove them.")


def check_spectra(spectra, cols, rows, purpose, points_parameter="POINTS"):
    """Refuse the reflectance sampled at the samples' pixels (spectra: (n, bands); cols, rows: each sample's pixel)
    when it cannot carry a relation: values above any reflectance (the wrong scaling, a fill such as 65535), or fewer
    than 3 distinct spectra (samples sharing a pixel, or an image constant where they lie)."""
    wrong = spectra > HIGHEST_REFLECTANCE  # (the reader leaves values below any reflectance out as nodata)
    if wrong.any():
        raise InputError("INPUT", f"{int(wrong.any(axis=1).sum())} of the {len(spectra)} samples' pixels hold values "
                                  f"such as {spectra[wrong][0]:g}, which no reflectance takes (about 0 to 1 after "
                                  f"SCALING): declare the image's nodata value (INPUT_NODATA) or choose its SCALING.")
    distinct = len(np.unique(spectra, axis=0))
    if distinct >= 3:
        return
    places = len(np.unique(np.column_stack([cols, rows]), axis=0))
    if places >= 3:
        raise InputError("INPUT", f"the image holds only {distinct} distinct spectra at the {places} pixels of the "
                                  f"samples: an image constant there has nothing to {purpose}; check the image and "
                                  f"its SCALING.")
    raise InputError(points_parameter, f"the {len(spectra)} samples on the image lie on only {places} pixel(s), so "
                                       f"they give {distinct} distinct spectra; spread the samples over the image.")
