"""An input image: one GDAL dataset (a file or a VRT stacking several files on one grid),
its sensor, the mapping band name -> raster band, reflectance scaling and nodata.

Band names come from, in order of trust: an explicit BAND_ORDER, band descriptions,
file names, or a sensor's default stack for the band count. Sources that disagree are
an error, never a guess (a silent band shift ruins a map)."""
import glob
import math
import os
import queue
import re
import threading
import xml.etree.ElementTree as ET

import numpy as np
from osgeo import gdal, gdal_array

from .blocks import MAX_GRID_PIXELS, MAX_GRID_SIDE, step, windows
from ..errors import InputError, repeated
from ..sensors import sensor as get_sensor
from ..sensors import sensors as get_sensors

gdal.UseExceptions()

# Reflectance scaling choices; the order is the order of the SCALING parameter.
SCALINGS = {
    "auto": "Automatic: float data as stored; integer data from product metadata (Landsat MTL, Sentinel-2 MTD)",
    "reflectance": "Already reflectance (no scaling)",
    "landsat_c2_l2": "Landsat Collection 2 Level-2 surface reflectance: DN x 0.0000275 - 0.2",
    "sentinel2_offset": "Sentinel-2 L1C/L2A, processing baseline 04.00 or later: (DN - 1000) / 10000",
    "sentinel2_no_offset": "Sentinel-2 L1C/L2A, before processing baseline 04.00: DN / 10000",
    "custom": "Custom: DN x SCALE + OFFSET",
}
FIXED_SCALINGS = {"reflectance": (1.0, 0.0), "landsat_c2_l2": (0.0000275, -0.2),
                  "sentinel2_offset": (1e-4, -0.1), "sentinel2_no_offset": (1e-4, 0.0)}
RESAMPLINGS = ["none", "nearest", "bilinear", "cubic", "average"]
# A float value this large is a fill value (-3.4e38, 1e30 ...), never a reflectance or any measured band value.
FILL_MAGNITUDE = np.float32(1e30)
# Nor is a band value below this, after scaling, a measurement: reflectance dips a little below 0 over dark water
# after atmospheric correction, and digital numbers and radiance are never negative. Below it lie the fill values
# files carry without declaring them (-9999, -32768, or reflectance x 10000 of -9999 scaled to -0.9999).
LOWEST_MEASURED = np.float32(-0.5)
HIGHEST_REFLECTANCE = 2.0  # surface reflectance above it is no reflectance: the wrong scaling
FILL_VALUES = (-999.0, -9999.0, -99999.0, -999999.0)  # what data sets write where a measurement or class is missing
STORED_INTEGERS = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16)}  # what read_stack may leave stored
EXACT_IN_FLOAT32 = STORED_INTEGERS | {np.dtype(np.float32)}


def zero_in_float32(number):
    """Whether number is 0 as a float32 (reflectance's type): 0 or a magnitude float32 rounds to 0."""
    return abs(number) <= np.finfo(np.float32).smallest_subnormal / 2


def measured(values):
    """Where float band values are measurements: not NaN, not infinite, not a fill value."""
    return np.abs(values) < FILL_MAGNITUDE


def measured_band(values, lowest=LOWEST_MEASURED):
    """Where an image band's values, after scaling, are measurements: besides measured(), not below lowest
    (LOWEST_MEASURED, in the units of a scaling that folds more than reflectance in: Image.lowest)."""
    return (values >= lowest) & (values < FILL_MAGNITUDE)


def may_hold_fill(kind, scale, offset, lowest=LOWEST_MEASURED):
    """Whether a band of this stored type and scaling can hold a value measured_band() refuses (unsigned integers
    with a positive scale and an offset of at least lowest cannot: the test is skipped for them)."""
    return kind.kind != "u" or scale < 0 or offset < lowest


def has_mask(flags):
    """Whether a band's GDAL mask flags give it a mask of its own (a .msk file, an internal mask, an alpha band):
    those pixels are nodata too. Not for a band that is all valid or masked by its nodata value, read directly."""
    return not flags & (gdal.GMF_ALL_VALID | gdal.GMF_NODATA)


# '..._SR_B4.TIF', 'T33UVP_..._B8A_20m.jp2', 'B12.tif', '..._B03.jp2'
_FILE_BAND = re.compile(r"(?:^|[_\-.])(?:SR_)?(B\d{1,2}A?N?)(?=$|[_\-.])", re.IGNORECASE)


class Image:
    def __init__(self, dataset, sensor, band_index, scaling, nodata, sources, scaling_source, keep=()):
        self.ds = dataset
        self.sensor = sensor
        self.band_index = band_index  # name -> 1-based band of self.ds
        self.scaling = scaling  # name -> (scale, offset) to reflectance
        self.nodata = nodata  # name -> raw nodata value or None
        self.sources = sources  # input file paths
        self.scaling_source = scaling_source  # one line on where the scaling came from
        self._keep = keep  # datasets a VRT reads from must outlive it
        self.width, self.height = dataset.RasterXSize, dataset.RasterYSize
        self.geotransform = dataset.GetGeoTransform()
        self.projection = dataset.GetProjection()
        # name -> the lowest stored value whose scaled value a read left out as a fill (below the band's lowest);
        # one dict shared with the views copied from this image (patch_tagging), so their reads are counted here
        self.left_out = {}
        # name -> LOWEST_MEASURED in the units of a scaling that folds more in than reflectance (a model's
        # normalisation: patch_tagging); LOWEST_MEASURED itself where missing
        self.lowest = {}
        # name -> (the one stored value its valid pixels held in every read so far, the (row, col) of the only
        # pixel read, or None once two were), None once a read held two values: a band that never varies carries
        # no signal (an all-zero scene gives a zero composite, a one-class map), which the run says. Shared with
        # views as left_out is. A band is looked at only until a read shows it varies, so real data costs one look
        # per band, not a pass.
        self.constant = {}

    def lowest_left_out(self):
        """The lowest reflectance (this image's scaling) that its reads, and its views' reads, left out as a fill;
        None if none was."""
        values = [stored * self.scaling[n][0] + self.scaling[n][1] for n, stored in self.left_out.items()]
        return min(values) if values else None

    def constant_bands(self):
        """{name: reflectance} of the bands read whose every valid pixel read (two at least, not one pixel read
        twice) held that one value."""
        return {n: c[0] * self.scaling[n][0] + self.scaling[n][1] for n, c in self.constant.items()
                if c and c[1] is None}

    def read_notes(self, origin=(0, 0)):
        """What this image's reads noted (the fills left out, the bands of one value), for another Image of the same
        bands to take in with add_read_notes: a cluster's tiles read on workers, and the run says what they found.
        origin: (col, row) of this image's first pixel in the other's grid."""
        return {"left_out": dict(self.left_out),
                "constant": {n: c and (c[0], c[1] and (c[1][0] + origin[1], c[1][1] + origin[0]))
                             for n, c in self.constant.items()}}

    def add_read_notes(self, notes):
        """Take in another image's read_notes, as if its reads had been this image's."""
        for n, stored in notes["left_out"].items():
            self._note_left_out(n, stored)
        for n, c in notes["constant"].items():
            self._note_one_value(n, *(c or (None, None)))

    def _note_left_out(self, n, stored):
        """Note a stored value of band n left out as a fill, keeping the lowest once scaled."""
        earlier = self.left_out.get(n)
        if earlier is None or (stored - earlier) * self.scaling[n][0] < 0:
            self.left_out[n] = stored

    def _note_one_value(self, n, value, pixel):
        """Note that the valid pixels of band n a read held one stored value (None: several), at pixel (None: at
        several). The band keeps one value while every read holds the same one (tiles' halos may read one pixel
        twice): to the bit, or for a float band within float32's rounding, as a view of another scaling
        (patch_tagging) reads it back."""
        earlier = self.constant.get(n, (value, pixel))
        if value is None or earlier is None:
            self.constant[n] = None
            return
        scale, offset = self.scaling[n]
        rounding = 1e-6 * (abs(value) + 2 * abs(offset / scale)) if self._kind(n).kind == "f" else 0
        same = abs(earlier[0] - value) <= rounding
        self.constant[n] = (earlier[0], pixel if earlier[1] == pixel else None) if same else None

    def _note_constant(self, names, kinds, stack, valid, stored, window):
        """Update self.constant with a read: stack and valid as read_stack returns them, window the read's."""
        for i, (n, kind) in enumerate(zip(names, kinds)):
            if n in self.constant and self.constant[n] is None:
                continue
            values = stack[i][valid]
            as_stored = stored and kind in STORED_INTEGERS
            scale, offset = self.scaling[n]
            keep = None
            if as_stored:  # left to the caller: not tested for nodata, nor for a fill below the lowest, yet
                keep = values != self.nodata[n] if self.nodata[n] is not None else np.ones(values.shape, bool)
                lowest = self.lowest.get(n, LOWEST_MEASURED)
                if may_hold_fill(kind, scale, offset, lowest):
                    keep &= values * np.float32(scale) + np.float32(offset) >= lowest
                values = values[keep]
            if not values.size:
                continue
            lo, hi = values.min(), values.max()
            value = float(lo) if as_stored else (float(lo) - offset) / scale
            if kind.kind in "iu":  # a view's other scaling (patch_tagging) gives the same stored integer back
                value = round(value)
            pixel = None
            if values.size == 1:  # where it lies: one pixel read again (a centre read, then the blocks) is one pixel
                rows, cols = np.nonzero(valid)
                at = 0 if keep is None else int(np.flatnonzero(keep)[0])
                pixel = (window[1] + int(rows[at]), window[0] + int(cols[at]))
            self._note_one_value(n, value if lo == hi else None, pixel)

    @property
    def band_names(self):
        return list(self.band_index)

    @property
    def surface_bands(self):
        """The bands that see the ground: all but those the atmosphere dominates (aerosol, water vapour, cirrus)
        or thermal ones; the default for spectral matching and classification."""
        return [b for b in self.band_names if b not in self.sensor.atmospheric_bands]

    def windows(self):
        """Block windows over the image, aligned to its own block rows."""
        return windows(self.width, self.height, input_block=self.ds.GetRasterBand(1).GetBlockSize())

    def require(self, names, parameter, distinct=False):
        """Canonical names of bands a preset or formula needs; error if the image lacks one, or with distinct (bands
        as features or vector dimensions, where a band twice would weigh double) if one is listed twice."""
        out = []
        for n in names:
            c = self.sensor.canonical(n, parameter)
            if c not in self.band_index:
                raise InputError(parameter, f"needs band {c}, which the input image does not have "
                                            f"(it has {', '.join(self.band_names)}).")
            out.append(c)
        twice = repeated(out)
        if distinct and twice:
            raise InputError(parameter, f"{', '.join(twice)} is listed more than once; list each band once.")
        return out

    def stored_scaling(self, names):
        """Per band, float32 arrays (scale, offset, nodata) that read_stack(stored=True) leaves to its caller: for
        bands stored as 8- or 16-bit integers, whose values it gives as stored; (1, 0, NaN) for the others, which it
        scales and checks itself. A caller that applies them in its own pass over the pixels saves a pass of three
        (scaling, offset, nodata test)."""
        nan = float("nan")
        with np.errstate(over="ignore"):  # a nodata beyond float32 (which no 16-bit value equals) becomes inf
            return tuple(np.array(v, np.float32) for v in zip(*[
                (*self.scaling[n], nan if self.nodata[n] is None else self.nodata[n])
                if self._kind(n) in STORED_INTEGERS else (1.0, 0.0, nan) for n in names]))

    def _kind(self, name):
        return np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(self.ds.GetRasterBand(self.band_index[name]).DataType))

    def read_stack(self, names, window, out=None, raw=None, stored=False):
        """Reflectance of the named bands in window as one (bands, rows, cols) float32 array, and the mask
        of pixels valid in all of them. stored: 8- and 16-bit integer bands as stored, neither scaled nor tested
        for nodata (see stored_scaling); in their own type when every band has it (a uint16 stack is half the
        bytes, and GDAL's conversion to float32 took a tenth of SAM's time), else as float32.

        out (contiguous float32 of at least bands x rows x cols values, any shape) and raw (flat bytes, at least
        one band of the window in its stored type): buffers to fill, for callers that read many windows. A fresh array costs the
        kernel zeroing its pages: reading a window into fresh arrays took twice as long here."""
        xoff, yoff, w, h = window
        size = len(names) * h * w
        kinds = [self._kind(n) for n in names]
        own = kinds[0] if stored and len(set(kinds)) == 1 and kinds[0] in STORED_INTEGERS else np.dtype(np.float32)
        memory = np.empty(size, np.float32) if out is None else out.reshape(-1)[:size]
        stack = memory.view(np.uint8)[:size * own.itemsize].view(own).reshape(len(names), h, w)
        valid = np.ones((h, w), dtype=bool)
        dataset_masked = False
        for i, (n, kind) in enumerate(zip(names, kinds)):
            band = self.ds.GetRasterBand(self.band_index[n])
            # Types whose every value float32 holds are read straight into place, GDAL converting: one pass less
            # than converting in numpy, and a scaling in place costs less than numpy's integer-to-float cast (reads
            # of 10 uint16 bands took 12 ns a pixel instead of 19).
            in_place = kind in EXACT_IN_FLOAT32  # own's too: it is one of them
            if in_place:
                buf = stack[i]
            elif raw is not None and raw.nbytes >= h * w * kind.itemsize:
                buf = raw[:h * w * kind.itemsize].view(kind).reshape(h, w)
            else:
                buf = None
            try:
                raw_band = band.ReadAsArray(xoff, yoff, w, h, buf_obj=buf)
            except RuntimeError as e:  # a file cut short or damaged after an intact header
                raise InputError("INPUT", f"band {n} could not be read at pixels {xoff}-{xoff + w}, rows "
                                          f"{yoff}-{yoff + h}: the file is damaged or truncated ({e}).") from None
            leave = stored and kind in STORED_INTEGERS
            if self.nodata[n] is not None and not leave:
                valid &= raw_band != self.nodata[n]
            flags = band.GetMaskFlags()
            if has_mask(flags) and not (flags & gdal.GMF_PER_DATASET and dataset_masked):
                valid &= band.GetMaskBand().ReadAsArray(xoff, yoff, w, h) > 0
                dataset_masked = bool(flags & gdal.GMF_PER_DATASET)  # one mask for all bands: read it once
            if leave:
                continue
            scale, offset = self.scaling[n]
            if scale != 1.0 or not in_place:  # else the values are in place already
                np.multiply(raw_band, np.float32(scale), out=stack[i], casting="unsafe")
            if offset != 0.0:
                stack[i] += np.float32(offset)
            lowest = self.lowest.get(n, LOWEST_MEASURED)
            if may_hold_fill(kind, scale, offset, lowest):
                ok = measured_band(stack[i], lowest)
                left_out = valid & ~ok
                if left_out.any():  # NaN, or a fill: the lowest fill is recorded, for the run to say so
                    below = stack[i][left_out & (stack[i] < lowest)]
                    if below.size:
                        self._note_left_out(n, (float(below.min()) - offset) / scale)
                valid &= ok
        self._note_constant(names, kinds, stack, valid, stored, window)
        return stack, valid

    def read(self, names, window):
        """Reflectance (float32) of the named bands in window by name, and the mask of pixels valid in all."""
        stack, valid = self.read_stack(names, window)
        return dict(zip(names, stack)), valid

    def blocks(self, names, feedback=None, stored=False):
        """(window, stack, valid) for every window of the image, in order, with progress and cancel checked
        per block. The next window is read in a background thread while the caller works on this one:
        GDAL and numpy release the GIL, so reading and computing overlap on two cores. The stack's memory is
        reused two windows later: a caller keeps a copy of what it needs beyond its own iteration. stored: as in
        read_stack."""
        windows = list(self.windows())
        q = queue.Queue(maxsize=1)
        stop = threading.Event()
        largest = max((w * h for _, _, w, h in windows), default=0)
        # One window with the caller, one in the queue, one being read: three buffers go round.
        ring = [np.empty(len(names) * largest, np.float32) for _ in range(3)]
        raw = np.empty(largest * 8, np.uint8)  # the reader's own: a band in its stored type, up to 8 bytes a value

        def reader():
            try:
                for i, win in enumerate(windows):
                    if stop.is_set():
                        return
                    q.put((win, *self.read_stack(names, win, ring[i % 3], raw, stored)))
                q.put(None)
            except BaseException as e:  # handed to the caller, raised there
                q.put(e)

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            for i in range(len(windows)):
                if feedback is not None:
                    step(feedback, i, len(windows))
                item = q.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a reader waiting to put
                try:
                    q.get(timeout=0.05)
                except queue.Empty:
                    pass
            thread.join()

    def central(self, names, size=512):
        """Reflectance and validity of a central window of at most size x size pixels: a cheap look at the scene
        (a decimated read of whole bands reads every block of a raster without overviews)."""
        w, h = min(size, self.width), min(size, self.height)
        return self.read_stack(names, ((self.width - w) // 2, (self.height - h) // 2, w, h))

    def require_reflectance(self, names, parameter="SCALING"):
        """An error when the bands' median in the central window is not surface reflectance (about 0 to 1): a
        model trained on reflectance predicts nonsense on digital numbers or on reflectance x 10000."""
        stack, valid = self.central(names)
        if not valid.any():
            return
        medians = np.median(stack[:, valid], axis=1)
        if not medians.any():  # zeros, not reflectance scaled twice (which the test below finds)
            raise InputError("INPUT_NODATA", f"the image is 0 in most valid pixels of its centre in every band "
                                             f"({', '.join(names)}): 0 is the nodata value of most products; set "
                                             f"INPUT_NODATA to 0 (or check the SCALING: {self.scaling_source}).")
        wild = [(n, m) for n, m in zip(names, medians) if m > HIGHEST_REFLECTANCE]  # (the reads leave out lower)
        if (np.abs(medians) < 1e-3).all():  # scaled twice (reflectance that still declares a scale of 1e-4)
            wild = list(zip(names, medians))
        if wild:
            listed = ", ".join(f"{n} {m:g}" for n, m in wild[:4])
            raise InputError(parameter, f"the image's median values ({listed}) are not surface reflectance (0 to 1), "
                                        f"which the model was trained on (scaled by: {self.scaling_source}). Choose "
                                        f"the product's scaling, or 'custom' with SCALE (e.g. 0.0001 for reflectance "
                                        f"x 10000).")

    def sample(self, names, max_pixels=1_000_000):
        """A decimated read of whole bands (at most max_pixels each) for statistics such as stretches."""
        f = max(1.0, math.sqrt(self.width * self.height / max_pixels))
        bw, bh = max(1, int(self.width / f)), max(1, int(self.height / f))
        valid = np.ones((bh, bw), dtype=bool)
        out = {}
        for n in names:
            band = self.ds.GetRasterBand(self.band_index[n])
            try:
                raw = band.ReadAsArray(buf_xsize=bw, buf_ysize=bh)
            except RuntimeError as e:
                raise InputError("INPUT", f"band {n} could not be read: the file is damaged or truncated ({e}).") from None
            if self.nodata[n] is not None:
                valid &= raw != self.nodata[n]
            if has_mask(band.GetMaskFlags()):
                valid &= band.GetMaskBand().ReadAsArray(buf_xsize=bw, buf_ysize=bh) > 0
            s, o = self.scaling[n]
            out[n] = raw.astype(np.float32) * np.float32(s) + np.float32(o)
            lowest = self.lowest.get(n, LOWEST_MEASURED)
            if may_hold_fill(raw.dtype, s, o, lowest):
                valid &= measured_band(out[n], lowest)
        return out, valid


def open_image(paths, sensor_id, band_order=None, scaling="auto", scale=None, offset=None,
               nodata=None, resampling="none", resolution=None):
    """Build an Image from one multiband raster or several single-band rasters."""
    sensor = get_sensor(sensor_id)
    if isinstance(paths, str):
        paths = [paths]
    if not paths:
        raise InputError("INPUT", "no raster given; choose one multiband raster or several single-band rasters.")
    datasets = [open_raster(p) for p in paths]
    if len(datasets) > 1:
        for p, ds in zip(paths, datasets):
            if ds.RasterCount != 1:
                raise InputError("INPUT", f"'{os.path.basename(p)}' has {ds.RasterCount} bands; when several "
                                          "rasters are given each must hold one band.")
    names = _band_names(paths, datasets, sensor, band_order)
    dataset, keep = _one_grid(paths, datasets, resampling, resolution)
    scale_offset, how, product_nodata = _scaling(paths, datasets, sensor, names, scaling, scale, offset)
    zero = [n for n, (s, _) in scale_offset.items() if zero_in_float32(s)]
    if zero:  # damaged metadata (custom SCALE is refused in _scaling): every pixel would be the offset
        raise InputError("SCALING", f"{how} gives band{'s' if len(zero) > 1 else ''} {', '.join(zero)} a scale of 0, "
                                    f"so every pixel would hold the same reflectance: the metadata is damaged. Repair "
                                    f"it, or choose 'custom' SCALING with SCALE and OFFSET.")
    raw_nodata = {}
    for i, n in enumerate(names):
        if nodata is not None:
            raw_nodata[n] = nodata
        else:
            nd = dataset.GetRasterBand(i + 1).GetNoDataValue()
            raw_nodata[n] = nd if nd is not None else product_nodata
    return Image(dataset, sensor, {n: i + 1 for i, n in enumerate(names)}, scale_offset, raw_nodata,
                 list(paths), how, keep=tuple(datasets))


def open_raster(path, parameter="INPUT"):
    """The GDAL dataset of path, or an error naming parameter that says what is wrong with it."""
    if not os.path.exists(path) and not path.startswith("/vsi"):
        raise InputError(parameter, f"'{path}' does not exist.")
    try:
        ds = gdal.Open(path)
    except RuntimeError:
        ds = None
    if ds is None or ds.RasterCount == 0:
        raise InputError(parameter, f"'{os.path.basename(path)}' exists but could not be read as a raster (not a "
                                    f"format GDAL reads, or a damaged file).")
    for i in range(ds.RasterCount):
        if gdal.DataTypeIsComplex(ds.GetRasterBand(i + 1).DataType):
            raise InputError(parameter, f"'{os.path.basename(path)}' holds complex numbers (band {i + 1}); "
                                        f"reflectance is real: give a real-valued raster.")
    return ds


def _band_word(description):
    """The band name a description starts with: GDAL describes Sentinel-2 SAFE bands as 'B4, central wavelength
    665 nm'."""
    return re.split(r"[,\s]", description.strip())[0]


def _described_names(paths, datasets, sensor):
    """Band names from descriptions (all bands) or else file names (one per file); None if neither names every band."""
    descriptions = [ds.GetRasterBand(i + 1).GetDescription().strip() for ds in datasets
                    for i in range(ds.RasterCount)]
    if all(descriptions):
        found = [_band_word(d) for d in descriptions]
        if all(sensor.find(f) for f in found):
            return [sensor.canonical(f) for f in found], "band descriptions", descriptions
    if len(datasets) > 1:
        found = []
        for p in paths:
            m = _FILE_BAND.findall(os.path.basename(p))
            found.append(m[-1] if m else None)
        if all(f and sensor.find(f) for f in found):
            return [sensor.canonical(f) for f in found], "file names", [os.path.basename(p) for p in paths]
    return None, None, descriptions


def _refuse_other_sensors_names(descriptions, sensor, stack):
    """Band descriptions that all name bands of another sensor, and not of this one, mean the wrong SENSOR when
    that sensor reads them as other bands than the standard stack taken instead: a silent band shift."""
    found = [_band_word(d) for d in descriptions]
    if not found or not all(found):
        return
    owners = [s.name for s in get_sensors().values() if s.id != sensor.id and all(s.find(f) for f in found)
              and [s.find(f) for f in found] != stack]
    if owners:
        raise InputError("SENSOR", f"the band descriptions ({', '.join(found)}) name bands of {', '.join(owners[:3])}, "
                                   f"not of {sensor.name}; choose the sensor the image comes from, or give its bands "
                                   f"in BAND_ORDER.")


def _band_names(paths, datasets, sensor, band_order):
    twice = repeated([os.path.realpath(p) for p in paths])
    if twice:  # one band read as two: its name would be doubled, or another band's taken
        raise InputError("INPUT", f"'{os.path.basename(twice[0])}' is given more than once; give each band's file "
                                  f"once.")
    count = sum(ds.RasterCount for ds in datasets)
    named, how, seen = _described_names(paths, datasets, sensor)
    if band_order:
        wanted = [sensor.canonical(b, "BAND_ORDER") for b in band_order]
        if len(wanted) != count:
            raise InputError("BAND_ORDER", f"lists {len(wanted)} bands ({', '.join(wanted)}) but the input "
                                           f"has {count}.")
        if named and named != wanted:
            raise InputError("BAND_ORDER", f"says {', '.join(wanted)} but the {how} say "
                                           f"{', '.join(named)}; correct one of them.")
        names = wanted
    elif named:
        names = named
    else:
        stacks = [list(s) for s in sensor.default_stacks if len(s) == count]
        _refuse_other_sensors_names(seen, sensor, stacks[0] if stacks else None)
        if not stacks:
            known = "; ".join(f"{len(s)} bands: {', '.join(s)}" for s in sensor.default_stacks)
            listed = ", ".join(d or "(no description)" for d in seen)
            raise InputError("BAND_ORDER", f"the input has {count} bands ({listed}) and their names could not "
                                           f"be read, and {sensor.name} has no standard stack of {count} bands "
                                           f"(known stacks: {known}). Give the band names in order in BAND_ORDER.")
        names = stacks[0]
    dup = repeated(names)
    if dup:
        raise InputError("BAND_ORDER", f"band {', '.join(dup)} appears more than once in {', '.join(names)}.")
    return names


def _grid(ds):
    return ds.RasterXSize, ds.RasterYSize, tuple(round(v, 9) for v in ds.GetGeoTransform())


def _one_grid(paths, datasets, resampling, resolution):
    """The dataset to read from: the input itself, or a VRT stacking the inputs on one grid."""
    srs = [ds.GetSpatialRef() for ds in datasets]
    for p, s in zip(paths[1:], srs[1:]):
        if (s is None) != (srs[0] is None) or (s is not None and not s.IsSame(srs[0])):
            raise InputError("INPUT", f"'{os.path.basename(p)}' is in a different coordinate reference system "
                                      f"from '{os.path.basename(paths[0])}'; reproject the rasters to one CRS first.")
    same = len({_grid(ds) for ds in datasets}) == 1
    if len(datasets) == 1 and not resolution:
        return datasets[0], ()
    if (not same or resolution) and resampling in (None, "none"):
        detail = ", ".join(f"{os.path.basename(p)}: {ds.RasterXSize}x{ds.RasterYSize} px of "
                           f"{abs(ds.GetGeoTransform()[1]):g}" for p, ds in zip(paths, datasets))
        why = "the rasters are on different grids" if not same else "RESOLUTION asks for a new grid"
        raise InputError("RESAMPLING", f"{why} ({detail}); choose a resampling method "
                                       f"(nearest, bilinear, cubic or average) to bring them onto one grid.")
    opts = dict(separate=len(datasets) > 1, resampleAlg=None if resampling in (None, "none") else resampling)
    if resolution:
        _check_resolution(datasets, resolution)
        opts.update(resolution="user", xRes=resolution, yRes=resolution)
    else:
        opts.update(resolution="highest")
    vrt = gdal.BuildVRT("", datasets, options=gdal.BuildVRTOptions(**opts))
    return vrt, tuple(datasets)


def _check_resolution(datasets, resolution):
    """RESOLUTION gives a grid of at least one pixel and at most MAX_GRID_SIDE a side and MAX_GRID_PIXELS in all
    over the inputs' extent (GDAL would fail on none, and a tiny one would fill the disk)."""
    gts = [ds.GetGeoTransform() for ds in datasets]
    xs = [x for gt, ds in zip(gts, datasets) for x in (gt[0], gt[0] + ds.RasterXSize * gt[1])]
    ys = [y for gt, ds in zip(gts, datasets) for y in (gt[3], gt[3] + ds.RasterYSize * gt[5])]
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    width, height = math.ceil(span_x / resolution - 1e-9), math.ceil(span_y / resolution - 1e-9)
    if min(int(span_x / resolution + 0.5), int(span_y / resolution + 0.5)) < 1:  # GDAL's rounding, side by side
        raise InputError("RESOLUTION", f"{resolution:g} is coarser than the image ({span_x:g} x {span_y:g} in its CRS "
                                       f"units): the grid would not have one pixel across.")
    if max(width, height) > MAX_GRID_SIDE or width * height > MAX_GRID_PIXELS:
        raise InputError("RESOLUTION", f"{resolution:g} gives a grid of {width} x {height} pixels over the image "
                                       f"(at most {MAX_GRID_SIDE:,} a side and {MAX_GRID_PIXELS:,} in all); choose a "
                                       f"coarser resolution (in the image's CRS units).")


def _largest_value(ds):
    """The largest magnitude a raster's data type holds (float rasters: the float32 range, as read)."""
    kind = np.dtype(gdal.GetDataTypeName(ds.GetRasterBand(1).DataType).lower().replace("byte", "uint8"))
    return float(np.iinfo(kind).max if kind.kind in "iu" else 1.0)


def _scaling(paths, datasets, sensor, names, scaling, scale, offset):
    """({band: (scale, offset)}, how it was decided, nodata the product defines or None)."""
    if scaling == "custom":
        if scale is None or offset is None:
            raise InputError("SCALE", "custom scaling needs both SCALE and OFFSET.")
        scale, offset = float(scale), float(offset)
        for name, value in (("SCALE", scale), ("OFFSET", offset)):
            if not math.isfinite(value):
                raise InputError(name, f"{value} is not a finite number.")
        if zero_in_float32(scale):  # reflectance is float32: a scale too small for it is 0 as well
            raise InputError("SCALE", f"a scale of {'0' if scale == 0 else f'{scale:g} (0 in float32)'} gives every "
                                      f"pixel the same reflectance (the OFFSET); give the factor that turns the "
                                      f"stored values into reflectance, e.g. 0.0001.")
        largest = max(_largest_value(ds) for ds in datasets)
        if not abs(scale) * largest + abs(offset) < float(np.finfo(np.float32).max):  # reflectance is float32
            raise InputError("SCALE", f"DN x {scale:g} + {offset:g} would overflow reflectance (float32) for values up "
                                      f"to {largest:g} in the input; Landsat and Sentinel-2 scales are about 1e-4.")
        return {n: (scale, offset) for n in names}, f"custom: DN x {scale:g} + {offset:g}", None
    if scaling in FIXED_SCALINGS:
        s, o = FIXED_SCALINGS[scaling]
        return {n: (s, o) for n in names}, SCALINGS[scaling], 0 if scaling != "reflectance" else None
    if scaling != "auto":
        raise InputError("SCALING", f"unknown choice '{scaling}'; choose one of {', '.join(SCALINGS)}.")
    bands = [ds.GetRasterBand(i + 1) for ds in datasets for i in range(ds.RasterCount)]
    declared = [(b.GetScale(), b.GetOffset()) for b in bands]
    says = [sc not in (None, 1.0) or of not in (None, 0.0) for sc, of in declared]
    if all(says):  # the file says how: GDAL's scale and offset
        return dict(zip(names, declared)), "the raster's own scale and offset (GDAL band metadata)", None
    if any(says):
        raise InputError("SCALING", f"only some bands of the input declare a scale or offset (bands "
                                    f"{', '.join(n for n, s in zip(names, says) if s)}); choose the scaling in "
                                    f"SCALING, or 'custom' with SCALE and OFFSET.")
    dtype_kinds = {np.dtype(gdal.GetDataTypeName(ds.GetRasterBand(1).DataType).lower()
                            .replace("byte", "uint8")).kind for ds in datasets}
    if dtype_kinds == {"f"}:
        return {n: (1.0, 0.0) for n in names}, "float data taken as reflectance", None
    found = _landsat_mtl(paths[0], names) or _sentinel2_mtd(paths[0], names)
    if found:
        return found[0], found[1], 0
    raise InputError("SCALING", f"the input holds integer values (digital numbers) and no product metadata "
                                f"(Landsat *_MTL.txt, Sentinel-2 MTD_MSIL2A.xml / MTD_MSIL1C.xml) was found beside "
                                f"it, so its reflectance scale is unknown for {sensor.name}. Choose the product's "
                                f"scaling in SCALING, or 'custom' with SCALE and OFFSET.")


def _product_number(text, what, metadata):
    """A number from product metadata, or an error naming the file and the item."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise InputError("SCALING", f"{os.path.basename(metadata)} holds '{text}' for {what}, not a number: the "
                                    f"product metadata is damaged. Repair it, or choose the scaling in SCALING.")
    return value


def _scene_mtls(path):
    """The MTL files of path's scene: those named after it (LC08_..._T1_MTL.txt beside LC08_..._T1_B4.TIF), else
    the only one in the folder; several MTLs of other scenes is an error (one of them scaled the bands 2.65x)."""
    found = sorted(glob.glob(os.path.join(glob.escape(os.path.dirname(os.path.abspath(path))), "*_MTL.txt")))
    name = os.path.basename(path).upper()
    own = [m for m in found if name.startswith(os.path.basename(m)[:-len("_MTL.txt")].upper())]
    if own or len(found) < 2:
        return own or found
    raise InputError("SCALING", f"'{os.path.basename(path)}' lies beside the metadata of {len(found)} Landsat scenes "
                                f"({', '.join(os.path.basename(m) for m in found[:3])}{', ...' if len(found) > 3 else ''}), "
                                f"none named after it, so which one scales it cannot be told; keep each scene in its "
                                f"own folder with its MTL, or choose 'custom' SCALING with SCALE and OFFSET.")


def _landsat_mtl(path, names):
    for mtl in _scene_mtls(path):
        with open(mtl, errors="replace") as f:
            text = f.read()
        values = dict(re.findall(r"^\s*(\w+)\s*=\s*\"?([^\"\n]*)\"?\s*$", text, re.MULTILINE))
        out = {}
        for n in names:
            m, a = values.get(f"REFLECTANCE_MULT_BAND_{n[1:]}"), values.get(f"REFLECTANCE_ADD_BAND_{n[1:]}")
            if m is None or a is None:
                break
            out[n] = (_product_number(m, f"REFLECTANCE_MULT_BAND_{n[1:]}", mtl),
                      _product_number(a, f"REFLECTANCE_ADD_BAND_{n[1:]}", mtl))
        else:
            if "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS" in text:
                return out, f"surface reflectance scale and offset from {os.path.basename(mtl)}"
            # Level-1: TOA reflectance needs the sun elevation correction (USGS Landsat 8 handbook, eq. 5.2).
            sun = math.sin(math.radians(_product_number(values.get("SUN_ELEVATION"), "SUN_ELEVATION", mtl)))
            if not sun > 0:
                raise InputError("SCALING", f"{os.path.basename(mtl)}: the sun elevation is not above the horizon, so "
                                            f"no top-of-atmosphere reflectance can be computed.")
            return ({n: (m / sun, a / sun) for n, (m, a) in out.items()},
                    f"top-of-atmosphere reflectance from {os.path.basename(mtl)}, sun elevation corrected")
    return None


_S2_INDEX = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]


def _product_folders(path):
    """Where a Sentinel-2 product file of path can lie: its own folder, and the product's root when path lies in a
    SAFE's image data (SAFE/GRANULE/<id>/IMG_DATA/R10m/<band>.jp2); the same for the file a link points to (band
    files linked into a working folder keep their product). Never any other folder above: a stack exported under
    a folder holding another product's metadata would take its scaling, even one below a folder that happens to
    be named GRANULE."""
    folders = []
    for file in (os.path.abspath(path), os.path.realpath(path)):
        folder = os.path.dirname(file)
        parts = folder.split(os.sep)
        granule = [i for i, part in enumerate(parts[:-2]) if part == "GRANULE" and parts[i + 2] == "IMG_DATA"]
        folders += [folder] + ([os.sep.join(parts[:granule[-1]]) or os.sep] if granule else [])
    return list(dict.fromkeys(folders))


def _sentinel2_mtd(path, names):
    for folder in _product_folders(path):
        for fn in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml"):
            mtd = os.path.join(folder, fn)
            if os.path.exists(mtd):
                try:
                    root = ET.parse(mtd).getroot()
                except ET.ParseError as e:
                    raise InputError("SCALING", f"{mtd} is not readable XML ({e}).") from None
                quant, offsets = None, {}
                for el in root.iter():
                    tag = el.tag.split("}")[-1]
                    if tag in ("BOA_QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE"):
                        quant = _product_number(el.text, tag, mtd)
                    elif tag in ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET"):
                        band = el.get("band_id", "")
                        if not band.isdigit() or int(band) >= len(_S2_INDEX):
                            raise InputError("SCALING", f"{mtd}: {tag} has band_id '{band}', not 0-12.")
                        offsets[_S2_INDEX[int(band)]] = _product_number(el.text, f"{tag} of band {band}", mtd)
                if quant is not None and quant <= 0:
                    raise InputError("SCALING", f"{mtd}: the quantification value is {quant:g}; it must be positive.")
                if quant:
                    return ({n: (1.0 / quant, offsets.get(n, 0.0) / quant) for n in names},
                            f"quantification value {quant:g} and offsets {sorted(set(offsets.values())) or [0]} "
                            f"from {fn}")
    return None


def pixel_of(geotransform, x, y):
    """(col, row) of the pixel containing each point (arrays), for any affine geotransform."""
    a, b, c, d, e, f = geotransform
    det = b * f - c * e
    col = np.floor(((x - a) * f - (y - d) * c) / det).astype(np.int64)
    row = np.floor(((y - d) * b - (x - a) * e) / det).astype(np.int64)
    return col, row


def sample_image(image, bands, x, y, window=1, feedback=None):
    """Reflectance of bands at each point: the pixel under it (window 1) or the mean of the valid pixels of a
    window x window square centred on it, clipped at the image edge. Returns (values (points, bands) float64,
    status array: 'ok', 'outside' (the point's pixel is off the image) or 'nodata' (no valid pixel))."""
    if window < 1 or window % 2 == 0:
        raise InputError("WINDOW", f"the window must be an odd number of pixels (1, 3, 5...), not {window}.")
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    col, row = pixel_of(image.geotransform, x, y)
    half = window // 2
    values = np.full((len(x), len(bands)), np.nan)
    status = np.full(len(x), "ok", dtype=object)
    for i in range(len(x)):
        if feedback is not None and i % 256 == 0:
            step(feedback, i, len(x))
        if not (0 <= col[i] < image.width and 0 <= row[i] < image.height):
            status[i] = "outside"
            continue
        c0, r0 = max(col[i] - half, 0), max(row[i] - half, 0)
        c1, r1 = min(col[i] + half + 1, image.width), min(row[i] + half + 1, image.height)
        stack, valid = image.read_stack(bands, (int(c0), int(r0), int(c1 - c0), int(r1 - r0)))
        if not valid.any():
            status[i] = "nodata"
            continue
        values[i] = stack[:, valid].astype(np.float64).mean(axis=1)
    return values, status
