"""Spectral Angle Mapper (Kruse et al. 1993) that matches minerals, not samples.

A class (a mineral) is represented by every spectrum given for it (all USGS samples of the mineral, or one
spectrum from a file or the image); a pixel's angle to a class is its smallest angle to any member. Before
mapping, the classes are compared in the sensor's bands at the image's own noise level by leaving out one
sample at a time (separability(), by the same rule the mapper applies): classes the sensor cannot tell apart
merge into one named group, and each class's default maximum angle is how far an unseen sample of it falls
from the library (95th percentile; in a group, the largest of its minerals').
A pixel takes the class of the smallest angle if that angle is within the class's maximum angle and the
next-best class of another group is more than the margin (measured with the noise) further away; otherwise it is
unclassified (0). When every class joins one group, the sensor tells none of them apart and nothing is mapped."""
import functools
import os
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, replace

import numpy as np

from ..io.blocks import RasterWriter, bounded_cache
from ..io.image import LOWEST_MEASURED
from ..errors import InputError, require
from ..report.palettes import UNCLASSIFIED_COLOUR, mineral_colours

CLASS_NODATA = 255
RULE_NODATA = -9999.0
MAX_CLASSES = 254
ROWS = 16  # rows of a window per task of the kernel: 64 K pixels of a 4096-wide window
LIMIT = np.pi / 2  # reflectance vectors are non-negative: no two are further apart than 90 degrees
IDENTIFIED = 0.75  # a class the sensor identifies: at least 3 of 4 unseen samples of it are mapped to it
SPREAD_PERCENTILE = 95  # a class's default maximum angle: this percentile of its unseen samples' angles
NOMINAL_NOISE = 0.01  # reflectance; used where an image is too small to measure its own
MAX_NOISE_STEP = 8  # pixels: a band stored at most 8 times finer than measured has its noise measured
# A 95th percentile of n samples needs n >= 19: an unseen sample lies beyond all n about 1 time in n + 1 (rank of
# exchangeable draws), more than 1 in 20 below 19; the log says so for a class with a mineral of fewer samples.
FEW_SAMPLES = 19
FALLBACK_ANGLE = 0.10  # for a class with a single sample, whose spread cannot be measured (0.10 rad ~ 5.7 deg)


@dataclass
class Endmembers:
    """The classes SAM maps and the spectra that stand for each, in the bands compared."""
    names: list  # class names; a class's value in the raster is its index + 1
    members: np.ndarray  # (m, bands) reflectance, sorted by class
    member_class: np.ndarray  # (m,) class index of each member
    labels: list  # (m,) what each member is: a sample key or a spectrum name
    samples: list  # (m,) the physical sample each was measured on: the unit left out in separability()
    groups: list = None  # per class, the names of the minerals it stands for (more than one when merged)
    minerals: list = None  # (m,) the mineral (class as given) each member stands for

    def __post_init__(self):
        if self.groups is None:
            self.groups = [[n] for n in self.names]
        if self.minerals is None:
            self.minerals = [self.names[c] for c in self.member_class]


def endmembers_from_library(library, matrix):
    """Group a resampled library's rows by spectrum name: rows of the same name are members of one class."""
    names = list(dict.fromkeys(library.names))
    if len(names) > MAX_CLASSES:
        raise InputError("ENDMEMBERS", f"{len(names)} endmembers; at most {MAX_CLASSES} fit a class raster.")
    index = np.array([names.index(s.name) for s in library.spectra])
    order = np.argsort(index, kind="stable")
    labels = [s.info.get("key", s.name) for s in library.spectra]
    samples = [s.info.get("sample_id") or s.info.get("key") or f"{s.name} {i}" for i, s in enumerate(library.spectra)]
    norms = np.linalg.norm(matrix, axis=1)
    for s, v in zip(library.spectra, norms):
        if not v > 0:
            raise InputError("ENDMEMBERS", f"'{s.info.get('key', s.name)}' is zero in every band used: a zero vector "
                                           f"has no direction, so no angle can be measured to it.")
    return Endmembers(names, matrix[order], index[order], [labels[i] for i in order], [samples[i] for i in order])


def _unit(rows):
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def image_noise(image, bands, size=512):
    """Per-band noise standard deviation (reflectance), the median pixel spectrum and how the noise was found,
    from a central window of the image. Noise: the median absolute difference of horizontally adjacent pixels / (0.6745 sqrt 2), which
    counts fine texture as noise too, so it errs towards wider limits rather than narrower."""
    stack, valid = image.central(bands, size)
    valid &= (stack > 0).any(axis=0)
    pairs = valid[:, 1:] & valid[:, :-1]
    level = np.median(stack[:, valid], axis=1).astype(np.float64) if valid.any() else np.full(len(bands), 0.3)
    if pairs.sum() < 100:  # too small an image to measure: 1 % reflectance, a noisy multispectral scene
        return np.full(len(bands), NOMINAL_NOISE), level, f"nominal {NOMINAL_NOISE:g} (image too small to measure)"
    # A band stored finer than it was measured (Sentinel-2's 20 m bands in a 10 m stack, a resampled image)
    # repeats each pixel: adjacent pixels are equal and their difference says noise 0. The step taken is the
    # shortest at which about as few pairs are equal as at any step up to MAX_NOISE_STEP (the size of the repeated
    # blocks; 1 where equal pairs come of quantisation, at every step alike).
    steps = {step: valid[:, step:] & valid[:, :-step] for step in range(1, MAX_NOISE_STEP + 1)}
    steps = {step: pairs for step, pairs in steps.items() if pairs.sum() >= 100}
    sigma, coarse = np.full(len(bands), NOMINAL_NOISE), []
    for b in range(len(bands)):
        diffs = {step: np.abs(stack[b, :, step:][pairs] - stack[b, :, :-step][pairs])  # valid only: no inf - inf
                 for step, pairs in steps.items()}
        equal = {step: np.mean(d == 0) for step, d in diffs.items()}
        if not equal or min(equal.values()) > 0.5:
            coarse.append(f"{bands[b]} nominal {NOMINAL_NOISE:g} (its pixels repeat)")
            continue
        step = min(s for s, e in equal.items() if e <= min(equal.values()) + 0.05)
        sigma[b] = np.median(diffs[step]) / (0.6745 * np.sqrt(2))
        if step > 1:
            coarse.append(f"{bands[b]} every {step} pixels")
    how = "measured on the image" + (f" ({'; '.join(coarse)}: stored finer than measured)" if coarse else "")
    return sigma.astype(np.float64), level, how


@dataclass
class Separability:
    """What leaving one sample out at a time shows, per mineral (the classes as given; a joined class holds
    several), and per class the angles that come of it."""
    names: list  # the classes tested
    minerals: list  # every mineral of the classes, in class order
    mineral_class: np.ndarray  # (minerals,) the class holding each
    trials: np.ndarray  # (minerals,) simulated unseen samples (0: a single sample, not testable)
    outcome: np.ndarray  # (minerals, classes + 1) trials mapped to each class, or left unclassified within the
    # margin of it (confused with it either way); last column: trials outside every class's limit
    spread: np.ndarray  # (classes,) the SPREAD_PERCENTILE angle of unseen samples to their own class, the largest
    # of its minerals' (NaN: untested)
    limited_by: list  # (classes,) (the mineral whose spread that is, its samples left out), or None: untested
    noise_angle: float  # median angle the noise alone moves a spectrum by
    margin: float  # how far the noise moves the difference between a pixel's two nearest classes (95th percentile)

    def identified(self):
        """Per mineral, the share of its unseen samples mapped to its class (NaN where untested)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.outcome[np.arange(len(self.minerals)), self.mineral_class] / self.trials


def separability(endmembers, sigma, level, trials=40, seed=0):
    """Leave one sample out: every sample is removed from the library in turn, made into `trials` noisy pixels
    (scaled to the image's median brightness times 0.6-1.4, Gaussian noise of sigma per band) and matched with
    what is left by the rule the mapper applies: the smallest angle, within its class's limit and more than the
    margin ahead of the next class. The margin is measured in the same trials: the 95th percentile of how far
    the noise moves the difference between the angles to a pixel's two nearest classes, so a pixel beyond it
    would keep its class under 19 of 20 draws of the noise. Returns a Separability."""
    rng = np.random.default_rng(seed)
    unit = _unit(endmembers.members)
    k = len(endmembers.names)
    samples, member_mineral = np.array(endmembers.samples), np.array(endmembers.minerals)
    minerals = list(dict.fromkeys(endmembers.minerals))
    own_angles = [{} for _ in range(k)]  # per class, per mineral: each mineral of a group must pass its limit
    trials_of = []  # (row of the held-out sample's mineral, (trials, classes) angles to each class)
    noise_angles, gap_shifts = [], []
    # The unit left out is a physical sample; a sample id may stand for spectra of more than one mineral
    # (USGS keys that share a field), so each mineral's spectra of it are tried on their own.
    for sample, mineral in dict.fromkeys(zip(endmembers.samples, endmembers.minerals)):
        held = samples == sample
        rest = ~held
        if not (rest & (member_mineral == mineral)).any():
            continue  # the mineral's only sample: nothing left to recognise it by (in a joined class, others)
        mine = held & (member_mineral == mineral)
        c = endmembers.member_class[mine][0]
        clean = _unit(endmembers.members[mine]) * np.linalg.norm(level)
        pixels = clean[rng.integers(0, len(clean), trials)] * rng.uniform(0.6, 1.4, (trials, 1))
        noisy = pixels + rng.normal(0, 1, pixels.shape) * sigma
        noisy_unit = _unit(noisy)
        noise_angles.extend(np.arccos(np.clip(np.sum(noisy_unit * _unit(pixels), axis=1), -1, 1)))
        angles = np.arccos(np.clip(noisy_unit @ unit[rest].T, -1, 1))  # (trials, rest members)
        clean_angles = np.arccos(np.clip(_unit(pixels) @ unit[rest].T, -1, 1))
        per_class, clean_class = np.full((trials, k), np.inf), np.full((trials, k), np.inf)
        for j in range(k):
            members_j = endmembers.member_class[rest] == j
            if members_j.any():  # a class whose only spectra are left out has no angle (inf)
                per_class[:, j] = angles[:, members_j].min(axis=1)
                clean_class[:, j] = clean_angles[:, members_j].min(axis=1)
        if np.isfinite(per_class[0]).sum() > 1:  # a second class to measure the gap to
            first, second = np.argsort(per_class, axis=1)[:, :2].T
            rows = np.arange(trials)
            gap_shifts.extend(np.abs((per_class[rows, second] - per_class[rows, first])
                                     - (clean_class[rows, second] - clean_class[rows, first])))
        own_angles[c].setdefault(mineral, []).extend(per_class[:, c])
        trials_of.append((minerals.index(mineral), per_class))
    spreads = [{m: np.percentile(v, SPREAD_PERCENTILE) for m, v in a.items()} for a in own_angles]
    widest = [max(s, key=s.get) if s else None for s in spreads]
    spread = np.array([s[m] if m else np.nan for s, m in zip(spreads, widest)])
    limited_by = [(m, len(a[m]) // trials) if m else None for a, m in zip(own_angles, widest)]
    noise_angle = float(np.median(noise_angles)) if noise_angles else 0.0
    margin = float(np.percentile(gap_shifts, 95)) if gap_shifts else 0.0
    limit = np.where(np.isfinite(spread), spread, FALLBACK_ANGLE)
    mineral_class = np.array([endmembers.member_class[member_mineral == m][0] for m in minerals])
    counts, outcome = np.zeros(len(minerals)), np.zeros((len(minerals), k + 1))
    for row, per_class in trials_of:
        order = np.argsort(per_class, axis=1)
        best, angle = order[:, 0], per_class[np.arange(len(order)), order[:, 0]]
        within = angle <= limit[best]
        if k > 1:  # within the margin of the next class: confused with whichever of the two is not its own
            close = within & (per_class[np.arange(len(order)), order[:, 1]] - angle <= margin)
            best = np.where(close & (best == mineral_class[row]), order[:, 1], best)
        counts[row] += len(best)
        np.add.at(outcome[row], np.where(within, best, k), 1)
    return Separability(list(endmembers.names), minerals, mineral_class, counts, outcome, spread, limited_by,
                        noise_angle, margin)


def _merged(endmembers, a, b):
    """The endmembers with class b joined to class a, named after the minerals of both."""
    names = list(endmembers.names)
    groups = [list(g) for g in endmembers.groups]
    names[a], groups[a] = f"{names[a]} / {names[b]}", groups[a] + groups[b]
    del names[b], groups[b]
    member_class = endmembers.member_class.copy()
    member_class[member_class == b] = a
    member_class[member_class > b] -= 1
    order = np.argsort(member_class, kind="stable")
    return replace(endmembers, names=names, members=endmembers.members[order], member_class=member_class[order],
                   labels=[endmembers.labels[i] for i in order], samples=[endmembers.samples[i] for i in order],
                   groups=groups, minerals=[endmembers.minerals[i] for i in order])


def group_inseparable(endmembers, sigma, level, keep_apart=False):
    """Join classes the sensor cannot tell apart until every mineral of every testable class is identified in at
    least IDENTIFIED of its unseen samples: each step joins the class pair most often confused with each other
    (mapped to the other, or left within the margin of it; a class with one sample is joined when others are
    confused with it).
    Returns (endmembers to map, group of each class, Separability of the classes as given, Separability of
    the classes mapped). With keep_apart the classes stay as given; the groups still decide the margin."""
    first = sep = separability(endmembers, sigma, level)
    joined = endmembers
    while len(joined.names) > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            share = sep.outcome[:, :-1] / sep.trials[:, None]
        weak = (sep.trials > 0) & (sep.identified() < IDENTIFIED)
        if not weak.any():
            break
        pair = np.zeros((len(sep.names),) * 2)  # the weak minerals' confusions, between classes
        np.add.at(pair, sep.mineral_class[weak], share[weak])
        pair += pair.T  # a class with one sample is never tested, but weak minerals are confused with it
        np.fill_diagonal(pair, -1)
        if pair.max() <= 0:  # the weak minerals miss into 'none', not into another class: nothing to join
            break
        a, b = sorted(np.unravel_index(np.argmax(pair), pair.shape))
        joined = _merged(joined, a, b)
        sep = separability(joined, sigma, level)
    group = np.array([next(g for g, minerals in enumerate(joined.groups) if n in minerals) for n in endmembers.names])
    if keep_apart:
        return endmembers, group, first, first
    return joined, np.arange(len(joined.names)), first, sep


def few_samples_note(mineral, samples):
    """What the log adds where a class's limit is the spread of a mineral of fewer than FEW_SAMPLES samples."""
    return (f"; set by {samples} samples of {mineral}: an unseen sample of it falls beyond the limit about 1 time in "
            f"{samples + 1}" if samples < FEW_SAMPLES else "")


def class_limits(endmembers, sep=None, max_angle=None, class_angles=None):
    """Per-class maximum angles: CLASS_ANGLES, else MAX_ANGLE when set, else the class's measured spread (sep:
    the Separability of these classes, if measured), else FALLBACK_ANGLE for a class with a single sample.
    Returns (angles, how each was chosen)."""
    class_angles = class_angles or {}
    known = {n.lower() for n in endmembers.names}
    unknown = [n for n in class_angles if n.lower() not in known]
    if unknown:
        raise InputError("CLASS_ANGLES", f"{', '.join(unknown)} is not one of the classes "
                                         f"({'; '.join(endmembers.names)}).")
    given = {n.lower(): a for n, a in class_angles.items()}
    angles, how = [], []
    for c, name in enumerate(endmembers.names):
        spread = sep.spread[c] if sep is not None else np.nan
        if name.lower() in given:
            angles.append(given[name.lower()]), how.append("CLASS_ANGLES")
        elif max_angle is not None:
            angles.append(max_angle), how.append("MAX_ANGLE")
        elif np.isfinite(spread) and spread > 0:
            angles.append(max(spread, sep.noise_angle)), how.append("spread of its samples" + few_samples_note(
                *sep.limited_by[c]))
        else:
            angles.append(FALLBACK_ANGLE), how.append("a single sample: fallback")
    angles = np.array(angles, dtype=np.float64)
    for n, a, h in zip(endmembers.names, angles, how):
        if not (np.isfinite(a) and 0 < a <= LIMIT):
            param = "CLASS_ANGLES" if h == "CLASS_ANGLES" else "MAX_ANGLE"
            raise InputError(param, f"the maximum angle for {n} is {a:g} rad; it must be above 0 and at most "
                                    f"pi/2 = {LIMIT:.4f} rad.")
    return angles, how


@functools.lru_cache(maxsize=None)
def pixel_kernel():
    """The compiled kernel (sam_kernel.classify_rows), or MissingPackage saying how to install numba. Looked up
    once: every task of every window calls it."""
    require("The Spectral Angle Mapper", "numba")
    from .sam_kernel import classify_rows

    return classify_rows


def kernel_arguments(unit, member_class, group, cos_limits):
    """The kernel's class arrays, checked (the compiled kernel checks no index) and in the types it is compiled for
    (one compiled version serves every call)."""
    unit, member_class = np.ascontiguousarray(unit, np.float32), np.ascontiguousarray(member_class, np.int64)
    group, cos_limits = np.ascontiguousarray(group, np.int64), np.ascontiguousarray(cos_limits, np.float32)
    k = len(cos_limits)
    if not (len(unit) == len(member_class) > 0 and len(group) == k and
            0 <= member_class.min() and member_class.max() < k):
        raise ValueError(f"inconsistent classes: {len(unit)} members, member classes {member_class.tolist()}, "
                         f"{len(group)} groups, {k} limits")
    return unit, member_class, group, cos_limits


def classify_rows(stack, valid, scaling, classes_of, margin, classes, angles, counts, first, last):
    """Rows first to last of a window through the compiled kernel (sam_kernel.classify_rows; scaling: the bands'
    Image.stored_scaling, classes_of: kernel_arguments), then the rule image's angles from the cosines it leaves:
    numpy's arccos is vectorised (0.6 ns an angle here, numba's scalar one 12). angles: a (classes, rows, cols)
    buffer, or None."""
    if stack.shape[0] != classes_of[0].shape[1] or stack.shape[1:] != valid.shape:
        raise ValueError(f"a stack of {stack.shape} with a mask of {valid.shape} and spectra of "
                         f"{classes_of[0].shape[1]} bands")
    want = angles is not None
    pixel_kernel()(stack, valid, *scaling, LOWEST_MEASURED, *classes_of, float(margin), want, classes,
                   angles if want else np.empty((1, 1, 1), np.float32), counts, first, last)
    if want:
        part = angles[:, first:last]
        np.arccos(part, out=part)
        part[:, classes[first:last] == CLASS_NODATA] = RULE_NODATA


def classify_block(pixels, valid, unit, member_class, group, cos_limits, margin, want_angles):
    """SAM on loose pixels: pixels (bands, n) reflectance, valid (n,) bool; unit: (members, bands) unit spectra,
    member_class: each member's class, group: each class's group, cos_limits: cos of each class's maximum angle.
    Returns the classes (n,) uint8, the pixels per outcome (members + 2: won by each member, unclassified, nodata)
    and, if asked, the class angles (classes, n)."""
    bands, n = pixels.shape
    classes = np.empty((1, n), np.uint8)
    angles = np.empty((len(cos_limits), 1, n), np.float32) if want_angles else None
    counts = np.zeros(len(unit) + 2, np.int64)
    as_given = (np.ones(bands, np.float32), np.zeros(bands, np.float32), np.full(bands, np.nan, np.float32))
    classify_rows(np.ascontiguousarray(pixels, np.float32).reshape(bands, 1, n),
                  np.ascontiguousarray(valid, bool).reshape(1, n), as_given,
                  kernel_arguments(unit, member_class, group, cos_limits), margin, classes, angles, counts, 0, 1)
    return classes[0], counts, angles[:, 0] if want_angles else None


def rule_image_writer(path, image, names):
    """The rule image's writer: one float32 angle band per class, on the image's grid."""
    return RasterWriter(path, image.width, image.height, len(names), np.float32, image.geotransform, image.projection,
                        RULE_NODATA, names, predictor=1, fast=True)


def spectral_angle_mapper(image, endmembers, bands, limits, output, feedback, output_rule=None, margin=0.0,
                          group=None, colours=None, threads=None):
    """Write the class raster (and the rule image: one angle band per class); returns per-class pixel counts,
    areas and the sample that matched best. limits: per-class maximum angles (radians); margin: the angle by
    which the best class must beat the best class of another group; group: each class's group (default: its
    own); colours: '#rrggbb' per class, written as the raster's colour table; threads: parts of a window classified
    at once (default: one per core)."""
    bands = image.require(bands, "BANDS")
    names = endmembers.names
    pixel_kernel()  # numba missing: said before any output is begun
    scaling = image.stored_scaling(bands)  # applied by the kernel: no pass of its own
    classes_of = kernel_arguments(_unit(endmembers.members), endmembers.member_class,
                                  np.arange(len(names)) if group is None else group, np.cos(limits))
    m = len(endmembers.members)
    outcomes = np.zeros(m + 2, dtype=np.int64)  # pixels per best member, then unclassified, nodata
    geo = (image.geotransform, image.projection)
    size = (image.width, image.height)
    # Compression that keeps the writer off the critical path: DEFLATE level 1 without a predictor packs a class
    # map's runs 4x faster than level 6 with one, 15 % larger; angles barely compress, so the rule image gets
    # ZSTD level 1 without the float predictor (2.3x faster, 10 % larger).
    with ExitStack() as stack_of, bounded_cache(), \
            RasterWriter(output, *size, 1, np.uint8, *geo, CLASS_NODATA, ["class"], predictor=1, zlevel=1) as w, \
            (rule_image_writer(output_rule, image, names) if output_rule else nullcontext()) as rule:
        if colours:  # before any pixel: a GeoTIFF cannot take a colour table once data is flushed
            w.set_classes({0: ("unclassified", UNCLASSIFIED_COLOUR),
                           **{k + 1: (n, c) for k, (n, c) in enumerate(zip(names, colours))}})
        pool = stack_of.enter_context(ThreadPoolExecutor(threads or os.cpu_count() or 1))
        saver = stack_of.enter_context(ThreadPoolExecutor(1))  # writes a window while the next is classified
        largest = max((ww * hh for _, _, ww, hh in image.windows()), default=0)
        # Two sets of output buffers: one being written, one being filled (fresh ones cost page faults).
        out_buffers = [(np.empty(largest, np.uint8), np.empty(len(names) * largest, np.float32) if output_rule
                        else None) for _ in range(2)]
        saved = None

        def save(x, y, classes, angles):
            # Whole windows of whole tiles: each tile is compressed once, never read back half written.
            w.write(0, x, y, classes)
            for k in range(len(angles) if output_rule else 0):
                rule.write(k, x, y, angles[k])

        try:
            for i, (win, stack, valid) in enumerate(image.blocks(bands, feedback, stored=True)):
                x, y, width, height = win
                class_buffer, angle_buffer = out_buffers[i % 2]
                classes = class_buffer[:height * width].reshape(height, width)
                angles = angle_buffer[:len(names) * height * width].reshape(len(names), height, width) \
                    if output_rule else None

                def rows(first):
                    """Classify ROWS rows of the window; the kernel releases the GIL, so parts run side by side on
                    every core. Returns their pixels per outcome."""
                    counts = np.zeros(m + 2, np.int64)
                    classify_rows(stack, valid, scaling, classes_of, margin, classes, angles, counts, first,
                                  min(first + ROWS, height))
                    return counts

                for part in pool.map(rows, range(0, height, ROWS)):
                    outcomes += part
                if saved is not None:
                    saved.result()  # the previous window is on disk: its buffers may be filled again
                saved = saver.submit(save, x, y, classes, angles)
            if saved is not None:
                saved.result()
        finally:  # never close the rasters under a write still running
            if saved is not None:
                wait([saved])
        member_class = endmembers.member_class
        wins = outcomes[:m]
        counts = np.zeros(256, dtype=np.int64)
        counts[1:len(names) + 1] = np.bincount(member_class, weights=wins, minlength=len(names))
        counts[0], counts[CLASS_NODATA] = outcomes[m], outcomes[m + 1]
        if counts[:CLASS_NODATA].sum() == 0:
            raise InputError("INPUT", f"no pixel has a valid spectrum in bands {', '.join(bands)}: the image is "
                                      f"nodata, zero or negative there.")
        meta = {"PROSPECTRA_CLASSES": ";".join(f"{k + 1}={n}" for k, n in enumerate(names)),
                "PROSPECTRA_BANDS": ",".join(bands), "PROSPECTRA_SCALING": image.scaling_source,
                "PROSPECTRA_MAX_ANGLES": ";".join(f"{n}={a:g}" for n, a in zip(names, limits)),
                "PROSPECTRA_MARGIN": f"{margin:g}"}
        w.set_metadata(meta)
        if output_rule:
            rule.set_metadata(meta)
    feedback.setProgress(100)
    pixel_area = abs(image.geotransform[1] * image.geotransform[5])
    return {"classes": class_rows(endmembers, counts, wins, pixel_area), "nodata_pixels": int(counts[CLASS_NODATA]),
            "pixel_area": pixel_area, "bands": bands, "max_angles": dict(zip(names, np.asarray(limits).tolist())),
            "counts": counts, "member_pixels": wins}


def class_rows(endmembers, counts, wins, pixel_area):
    """The summary's row per class from the pixels per class value (counts, 256 long) and per member that matched
    best (wins): pixels, area, percentage of valid pixels, the sample that matched most pixels. A cluster adds its
    tiles' counts and wins and calls this once."""
    valid_total = int(counts[:CLASS_NODATA].sum())
    rows = []
    for value, n in [(0, "unclassified")] + [(k + 1, n) for k, n in enumerate(endmembers.names)]:
        mine = endmembers.member_class == value - 1
        best = "" if value == 0 or not wins[mine].any() else endmembers.labels[np.flatnonzero(mine)[wins[mine].argmax()]]
        rows.append({"class": value, "name": n, "pixels": int(counts[value]), "area": counts[value] * pixel_area,
                     "percent": 100.0 * counts[value] / valid_total, "best_sample": best})
    return rows


def outcomes(sep, i):
    """Mineral i's unseen samples: (share identified, [(share, other class)] of 5 % or more, largest first, share
    outside every limit). A sample counts as confused with a class it was mapped to or left within the margin of."""
    k, own = len(sep.names), sep.mineral_class[i]
    row = sep.outcome[i] / sep.trials[i]
    others = sorted(((row[j], sep.names[j]) for j in range(k) if j != own and row[j] >= 0.05), reverse=True)
    return float(row[own]), others, float(row[k])


def separability_lines(given, tested):
    """One line per mineral: the share of its unseen samples identified, and what the rest became."""
    lines = []
    for i, n in enumerate(given.names):
        if not tested.trials[i]:
            lines.append(f"{n}: one sample only, its separability cannot be measured")
            continue
        own, others, none = outcomes(tested, i)
        others = others + ([(none, "none within its limit")] if none >= 0.05 else [])
        confused = "; ".join(f"{name} {share:.0%}" for share, name in sorted(others, reverse=True))
        reliable = "" if own >= IDENTIFIED else " - UNRELIABLE with these bands"
        lines.append(f"{n}: unseen samples identified {own:.0%}{reliable}{f' (else: {confused})' if confused else ''}")
    return lines


def _refuse_same_shapes(endmembers, parameter):
    """An error when two classes of one spectrum each have one shape in these bands (an angle below 1e-6 rad: one
    is the other scaled, or a copy under another name): SAM could never prefer one, and the second would never win.
    (Classes of several spectra may share one, as a USGS record of a mixture stands for each of its minerals: the
    separability test weighs them.)"""
    unit = _unit(endmembers.members)
    single = np.bincount(endmembers.member_class)[endmembers.member_class] == 1
    other = endmembers.member_class[:, None] != endmembers.member_class[None, :]
    same = np.argwhere(other & single[:, None] & single[None, :] & (unit @ unit.T > np.cos(1e-6)))
    if len(same):
        a, b = (endmembers.names[endmembers.member_class[i]] for i in same[0])
        raise InputError(parameter, f"'{a}' and '{b}' have the same spectral shape in these bands (one is the other "
                                    f"scaled): SAM measures shape only and cannot tell them apart. Remove one, or "
                                    f"give them one name.")


def plan_sam(image, library, bands, max_angle=None, class_angles=None, keep_apart=False):
    """What a SAM run decides from the whole image before any pixel is classified: the library resampled to the
    bands (samples missing a band left out), separability at the image's noise level, inseparable classes joined
    (or kept apart), limits. Returns the arguments spectral_angle_mapper takes, with what was decided on the way.
    One plan serves a single run and every tile of a cluster run alike."""
    bands = image.require(bands, "BANDS", distinct=True)
    if len(bands) < 2:
        raise InputError("BANDS", f"an angle needs at least 2 bands (given: {', '.join(bands) or 'none'}); with one, "
                                  f"every spectrum points the same way.")
    library, matrix, dropped = library.resample_covering(image.sensor, bands)
    given = endmembers_from_library(library, matrix)
    _refuse_same_shapes(given, library.parameter)
    sigma, level, noise_source = image_noise(image, bands)
    endmembers, group, tested, mapped = group_inseparable(given, sigma, level, keep_apart)
    groups = ([[given.names[i] for i in range(len(given.names)) if group[i] == g] for g in range(group.max() + 1)]
              if keep_apart else endmembers.groups)
    if len(given.names) > 1 and len(groups) == 1 and not keep_apart:
        raise InputError("ENDMEMBERS", f"this sensor cannot tell any of {', '.join(given.names)} apart in the bands "
                                       f"used at this image's noise level: they all merge into one group. Choose "
                                       f"minerals with different spectra, a sensor with more SWIR bands, or "
                                       f"KEEP_APART to map them anyway.")
    limits, how = class_limits(endmembers, mapped, max_angle, class_angles)
    if not tested.trials.any():
        noise = "noise angle and margin not measured: no mineral has two samples to leave one out"
    else:
        noise = (f"noise angle {mapped.noise_angle:.4f} rad; margin {mapped.margin:.4f} rad " +
                 ("(a pixel this close to a class of another group stays unclassified)" if group.max() > 0 else
                  "(not applied: the classes form one group)"))
    run = {"endmembers": endmembers, "bands": bands, "limits": limits, "margin": mapped.margin, "group": group,
           "colours": mineral_colours(endmembers.names)}
    decided = {"limit_sources": how, "dropped": dropped, "noise": sigma, "noise_source": noise_source,
               "noise_note": noise, "source": library.source, "spectra": len(library),
               "separability": separability_lines(given, tested), "joined": [g for g in groups if len(g) > 1]}
    return run, decided


def map_minerals(image, library, bands, output, feedback, output_rule=None, max_angle=None, class_angles=None,
                 keep_apart=False):
    """SAM as the algorithm runs it: plan_sam, then the class raster (and rule image) written. Returns the summary
    of spectral_angle_mapper with what plan_sam decided."""
    run, decided = plan_sam(image, library, bands, max_angle, class_angles, keep_apart)
    summary = spectral_angle_mapper(image, output=output, feedback=feedback, output_rule=output_rule, **run)
    summary.update(decided, endmembers=run["endmembers"], colours=run["colours"])
    return summary


TABLE_LEVEL = 0.3  # reflectance of identifiability()'s simulated pixels before the brightness factor


def sensor_bands(sensor):
    """The bands spectral matching uses by default: those with a reflective response, less the atmospheric ones."""
    _, curves = sensor.srf()
    return [b for b in sensor.band_names if b in curves and b not in sensor.atmospheric_bands]


def identifiability(sensor, minerals):
    """What the sensor can identify among minerals, leaving one USGS sample out at a time (separability() at
    NOMINAL_NOISE and TABLE_LEVEL, all minerals at once). Rows (mineral, samples, share identified, [(share,
    confused with)], share unclassified) for the minerals with two or more samples covering the bands."""
    from .spectral_library import usgs_mineral_samples

    bands = sensor_bands(sensor)
    library, matrix, _ = usgs_mineral_samples(minerals).resample_covering(sensor, bands)
    endmembers = endmembers_from_library(library, matrix)
    sep = separability(endmembers, np.full(len(bands), NOMINAL_NOISE), np.full(len(bands), TABLE_LEVEL))
    rows = []
    for i, name in enumerate(endmembers.names):
        if not sep.trials[i]:
            continue  # a single sample: nothing to leave it out against
        own, others, none = outcomes(sep, i)
        samples = len({s for s, c in zip(endmembers.samples, endmembers.member_class) if c == i})
        rows.append((name, samples, own, others[:3], none))
    return bands, rows
