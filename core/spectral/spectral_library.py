"""Spectral libraries: named reflectance spectra, either at full resolution (with wavelengths in nm)
or already in a sensor's bands, and their resampling to a sensor by its spectral response curves.

Sources: the bundled USGS splib07 (Kokaly et al. 2017), a CSV file, an ENVI spectral library
(.sli + .hdr), or the image itself at points. All end up as one SpectralLibrary."""
import codecs
import collections
import csv
import difflib
import functools
import io
import json
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..io.image import sample_image
from ..io.outputs import staged

LIBRARY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "library")
USGS_CITATION = ("Kokaly, R.F., Clark, R.N., Swayze, G.A., et al., 2017, USGS Spectral Library Version 7: "
                 "U.S. Geological Survey Data Series 1035, doi:10.3133/ds1035")
COVERAGE = 0.99  # a band is resampled only if the spectrum covers 99 % of its response
# ... and only if a channel lies within its response, or the gap it falls in is narrow: at most GAP_LIMIT nm or at
# most twice the band's response. USGS's water-band gaps (about 100 nm) keep their bands; a band in a gap of 800 nm
# (Stilbite HS482.3B, Beckman) or in a spectrum measured at two wavelengths is not drawn as a straight line. (A
# channel inside the band measures it: spectra made from another sensor's band centres keep their bands.)
GAP_LIMIT = 100.0
HEATED = re.compile(r"\(\d+C\)")  # a laboratory heating temperature in a USGS key: '..._(400C)_...'



@dataclass
class Spectrum:
    name: str
    values: np.ndarray  # reflectance
    wavelengths: np.ndarray = None  # nm, for full-resolution spectra
    bands: tuple = None  # band names, for spectra already in a sensor's bands
    info: dict = field(default_factory=dict)


def convolve(wavelengths, values, sensor, band_names):
    """Band values of one spectrum: linear interpolation onto the response-curve grid, then
    sum(response x reflectance) / sum(response). NaN where the spectrum misses a band."""
    grid, curves = sensor.srf()
    out = np.full(len(band_names), np.nan)
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return out
    order = np.argsort(wavelengths[ok])
    w, v = wavelengths[ok][order], values[ok][order]
    inside = (grid >= w[0]) & (grid <= w[-1])
    resampled = np.interp(grid[inside], w, v)
    for i, b in enumerate(band_names):
        r = curves.get(b)
        if r is None:  # thermal bands have no reflective response
            continue
        covered = r[inside]
        if covered.sum() >= COVERAGE * r.sum() > 0 and not _in_gap(w, grid[r > 0.01 * r.max()]):
            out[i] = float(np.dot(covered, resampled) / covered.sum())
    return out


def _in_gap(w, support):
    """Whether a band whose response spans the wavelengths `support` falls in a gap of the sorted channels w
    (COVERAGE has checked that w spans it): no channel within it, and the gap wider than GAP_LIMIT and than twice
    the band."""
    lo, hi = support[0], support[-1]
    k = np.searchsorted(w, lo)
    if k == 0 or k == len(w) or w[k] <= hi:
        return False
    return w[k] - w[k - 1] > max(2 * (hi - lo), GAP_LIMIT)


LARGEST_VALUE = 1e6  # no reflectance convention comes near it
SMALLEST_PEAK = 1e-6  # a spectrum whose largest value is below it holds no reflectance in any scaling
NEGATIVE_SHARE = 0.1  # reflectance dips below 0 by noise, a few percent of the spectrum's peak, never by this share


class SpectralLibrary:
    def __init__(self, spectra, source, parameter="ENDMEMBERS"):
        self.spectra = list(spectra)
        self.source = source
        self.parameter = parameter  # the parameter the spectra came from, named in errors about them

    def __len__(self):
        return len(self.spectra)

    @property
    def names(self):
        return [s.name for s in self.spectra]

    def select(self, wanted, parameter="ENDMEMBERS"):
        """The spectra named in wanted (case-insensitive), in that order; an unknown name lists close matches."""
        by_name = {s.name.lower(): s for s in self.spectra}
        chosen = []
        for w in wanted:
            s = by_name.get(w.strip().lower())
            if s is None:
                raise unknown_name(w, self.names, parameter, self.source)
            chosen.append(s)
        return SpectralLibrary(chosen, self.source, self.parameter)

    def resample(self, sensor, band_names, parameter=None, bands_parameter="BANDS"):
        """(spectra x bands) matrix in the given bands; an error names spectra that miss a band (and the parameter
        that can leave bands out, if the caller has one)."""
        parameter = parameter or self.parameter
        rows = []
        for s in self.spectra:
            if not np.isfinite(s.values).any():
                raise InputError(parameter, f"'{s.name}' from {self.source} holds no number: every value is empty, "
                                            f"not a number or infinite.")
            with np.errstate(invalid="ignore"):
                largest = np.nanmax(np.abs(s.values), initial=0.0)
            if largest > LARGEST_VALUE:  # overflowed in the angle's squares, which came out as pi/2 everywhere
                raise InputError(parameter, f"'{s.name}' from {self.source} holds values up to {largest:.3g}; a "
                                            f"spectrum is reflectance (0-1, percent or scaled integers), never beyond "
                                            f"{LARGEST_VALUE:g}: check the file's columns and scaling.")
            with np.errstate(invalid="ignore"):
                top, bottom = np.nanmax(s.values, initial=-np.inf), np.nanmin(s.values, initial=np.inf)
            if not top > SMALLEST_PEAK:
                raise InputError(parameter, f"'{s.name}' from {self.source} holds no value above {SMALLEST_PEAK:g} "
                                            f"(its largest is {top:.3g}): no reflectance in any scaling; check the "
                                            f"file's columns, its data type and byte order.")
            if bottom < -NEGATIVE_SHARE * top:
                where = s.wavelengths[np.nanargmin(s.values)] if s.wavelengths is not None else \
                    s.bands[int(np.nanargmin(s.values))]
                raise InputError(parameter, f"'{s.name}' from {self.source} holds {bottom:g} at "
                                            f"{f'{where:g} nm' if s.wavelengths is not None else where}, against "
                                            f"{top:.3g} at most: no reflectance is that negative. A fill value for a "
                                            f"missing measurement? Leave the cell empty (CSV) or declare it as the "
                                            f"data ignore value (ENVI).")
            if s.wavelengths is not None:
                rows.append(convolve(s.wavelengths, s.values, sensor, band_names))
            else:
                lookup = {sensor.find(b) or b: v for b, v in zip(s.bands, s.values)}
                for b, centre in s.info.get("centres", {}).items():  # a library resampled for another sensor
                    own = sensor.find(b)
                    if own in band_names and abs(centre - sensor.band(own).centre_nm) > max(25, 0.05 * centre):
                        raise InputError(parameter, f"'{s.name}' from {self.source} gives band {b} at {centre:g} nm, "
                                                    f"but {sensor.name}'s {own} is centred at "
                                                    f"{sensor.band(own).centre_nm:g} nm: the library was resampled for "
                                                    f"another sensor. Resample its source spectra for {sensor.name}.")
                missing = [b for b in band_names if b not in lookup]
                if missing:
                    raise InputError(parameter, f"'{s.name}' from {self.source} has bands {', '.join(s.bands)} "
                                                f"but the image needs {', '.join(band_names)} "
                                                f"(missing {', '.join(missing)}).")
                rows.append(np.array([lookup[b] for b in band_names], dtype=np.float64))
        matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(band_names))
        for s, row in zip(self.spectra, matrix):
            gaps = [b for b, v in zip(band_names, row) if not np.isfinite(v)]
            if gaps:
                advice = f"leave those bands out with {bands_parameter} or use" if bands_parameter else "use"
                why = "its wavelengths do not span that band's response, or leave a gap across it wider than " \
                      f"{GAP_LIMIT:g} nm and than twice the band" if s.wavelengths is not None else \
                      "its value there is not a number"
                raise InputError(parameter, f"'{s.name}' does not cover band(s) {', '.join(gaps)} of {sensor.name} "
                                            f"({why}); {advice} another spectrum.")
        return matrix


    def resample_covering(self, sensor, band_names, parameter=None):
        """Like resample, but a spectrum that misses a band is left out rather than refused, as long as each name
        keeps at least one spectrum. Returns (library of the spectra kept, matrix, keys of those left out)."""
        parameter = parameter or self.parameter
        counts = {n: self.names.count(n) for n in self.names}
        # A name with one spectrum keeps resample's own errors, which say what is missing.
        rows = [SpectralLibrary([s], self.source, parameter).resample(sensor, band_names)[0] if counts[s.name] == 1
                else convolve(s.wavelengths, s.values, sensor, band_names) for s in self.spectra]
        keep = [bool(np.isfinite(r).all() and (r > 0).any()) for r in rows]
        for name in dict.fromkeys(self.names):
            if not any(k for k, s in zip(keep, self.spectra) if s.name == name):
                raise InputError(parameter, f"no sample of '{name}' in {self.source} covers every band used "
                                            f"({', '.join(band_names)} of {sensor.name}) with a non-zero spectrum; "
                                            f"leave the uncovered bands out with BANDS or choose another mineral.")
        kept = SpectralLibrary([s for k, s in zip(keep, self.spectra) if k], self.source, parameter)
        dropped = [s.info.get("key", s.name) for k, s in zip(keep, self.spectra) if not k]
        return kept, np.array([r for k, r in zip(keep, rows) if k]), dropped


def unknown_name(name, known, parameter, source):
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    return InputError(parameter, f"'{name}' is not in {source}.{hint}")


# ---- the bundled USGS library ------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _usgs_tables():
    arrays = np.load(os.path.join(LIBRARY_DIR, "usgs_splib07.npz"), allow_pickle=False)
    with open(os.path.join(LIBRARY_DIR, "usgs_splib07.csv")) as f:
        index = list(csv.DictReader(f))
    with open(os.path.join(LIBRARY_DIR, "usgs_selection.json")) as f:
        selection = json.load(f)
    return {k: arrays[k] for k in arrays.files}, index, selection


def usgs_selection():
    return _usgs_tables()[2]


@functools.lru_cache(maxsize=1)
def usgs_library():
    """All 1310 splib07a Beckman and ASD spectra, named by their file key (e.g. 'Kaolinite_CM9_BECKb_AREF')."""
    arrays, index, _ = _usgs_tables()
    spectra = []
    for row in index:
        grid = row["grid"]
        info = dict(row, citation=USGS_CITATION)
        spectra.append(Spectrum(row["key"], arrays[grid][int(row["row"])].astype(np.float64),
                                wavelengths=arrays[f"wavelengths_{grid}"].astype(np.float64), info=info))
    return SpectralLibrary(spectra, "the bundled USGS splib07 library")


def usgs_endmembers(names, parameter="ENDMEMBERS"):
    """USGS spectra by mineral name ('Calcite', 'Feldspar'), title ('Kaolinite CM9') or key.

    A bare mineral name takes the sample USGS also resampled to sensors (usgs_selection.json), or else
    the first reflectance (AREF) sample of that mineral; the spectrum is named as asked."""
    library = usgs_library()
    selection = usgs_selection()
    by_key = {s.name.lower(): s for s in library.spectra}
    by_title = {s.info["title"].lower(): s for s in library.spectra}
    by_mineral = {}
    for s in library.spectra:
        if s.info["mineral"]:
            by_mineral.setdefault(s.info["mineral"].lower(), []).append(s)
    preferred = {m.lower(): k for m, k in selection["preferred_samples"].items()}
    aliases = {a.lower(): m.lower() for a, m in selection["aliases"].items()}
    absent = {a.lower(): a for a in selection["absent"]}
    chosen = []
    for name in names:
        key = name.strip().lower()
        if key in absent:
            raise InputError(parameter, f"{absent[key]} is not in USGS splib07 (the library has no spectrum of it); "
                                        f"leave it out, or give a spectrum of your own in LIBRARY.")
        mineral = aliases.get(key, key)
        s = by_key.get(key) or by_title.get(key)
        if s is None and mineral in by_mineral:
            s = by_key.get(preferred.get(mineral, "").lower()) or sorted(
                by_mineral[mineral], key=lambda t: (t.info["measurement"] != "AREF", t.name))[0]
        if s is None:
            known = sorted({x.info["mineral"] for x in library.spectra if x.info["mineral"]}) + list(selection["aliases"])
            raise unknown_name(name.strip(), known, parameter, library.source)
        chosen.append(Spectrum(name.strip(), s.values, s.wavelengths, None, s.info))
    return SpectralLibrary(chosen, library.source, parameter)


def usgs_mineral_names():
    """Lower-case names of the minerals the bundled library holds, with their aliases ('sericite')."""
    names = {s.info["mineral"].lower() for s in usgs_library().spectra if s.info["mineral"]}
    return names | {a.lower() for a in usgs_selection()["aliases"]}


def usgs_mineral_samples(names, parameter="ENDMEMBERS"):
    """Every suitable USGS sample of each mineral named, as spectra named by the mineral as asked, so that a
    class stands for the mineral rather than for one arbitrary sample (each spectrum's info keeps its file key
    and sample id). Suitable: a reflectance (AREF) measurement of a sample not heated in the laboratory (USGS
    marks those with the temperature in parentheses, e.g. 'Alunite RES-9 Summitville (400C)': heating changes the
    mineral). A sample title or file key gives that one sample; aliases ('Sericite') and absent minerals behave
    as in usgs_endmembers."""
    library = usgs_library()
    aliases = {a.lower(): m.lower() for a, m in usgs_selection()["aliases"].items()}
    by_mineral = {}
    for s in library.spectra:
        if s.info["mineral"] and s.info["measurement"] == "AREF" and not HEATED.search(s.name):
            by_mineral.setdefault(s.info["mineral"].lower(), []).append(s)
    chosen = []
    for name in names:
        samples = by_mineral.get(aliases.get(name.strip().lower(), name.strip().lower()))
        if samples is None:  # a title or key, or an unknown name: usgs_endmembers gives the one sample or the error
            chosen.extend(usgs_endmembers([name], parameter).spectra)
            continue
        chosen.extend(Spectrum(name.strip(), s.values, s.wavelengths, None, s.info) for s in samples)
    return SpectralLibrary(chosen, library.source, parameter)


# ---- files ------------------------------------------------------------------------------------------

def _wavelength_factor(wavelengths, units, parameter):
    if units == "nm":
        return 1.0
    if units in ("um", "micrometers", "micrometres", "microns"):
        return 1000.0
    if units not in ("auto", "", None):
        raise InputError(parameter, f"unknown wavelength unit '{units}'; use nm or um.")
    # Reflective spectra span about 0.35-2.5 um, i.e. 350-2500 nm: the two never overlap.
    return 1000.0 if np.nanmax(wavelengths) < 30 else 1.0


def _checked_wavelengths(wavelengths, where, parameter):
    """Wavelengths in nm as a library gives them, refused when no reflectance spectrum could have them (a first
    column that is not wavelengths, a wrong unit) or when one repeats (two values for one wavelength)."""
    if not np.isfinite(wavelengths).all():  # NaN passes any comparison of the range below
        raise InputError(parameter, f"{where}: a wavelength is not a number ({wavelengths[~np.isfinite(wavelengths)][0]}); "
                                    f"give each channel its wavelength.")
    low, high = float(np.min(wavelengths)), float(np.max(wavelengths))
    if low < 200 or high > 100000:
        raise InputError(parameter, f"{where}: the wavelengths run from {low:g} to {high:g} nm, which no reflectance "
                                    f"spectrum covers (about 350-2500 nm): check that the first column holds the "
                                    f"wavelengths and that their unit is right (WAVELENGTH_UNITS, or the ENVI "
                                    f"header's 'wavelength units').")
    values, counts = np.unique(wavelengths, return_counts=True)
    repeated = values[counts > 1]
    if len(repeated):
        raise InputError(parameter, f"{where}: the wavelength {repeated[0]:g} nm appears more than once; give each "
                                    f"wavelength one row.")
    return wavelengths


def read_csv_library(path, units="auto", parameter="LIBRARY"):
    """CSV: a header row, then either wavelength + one column per spectrum, or (as Prospectra writes
    resampled libraries) a 'band' column, an optional 'centre_nm' column and one column per spectrum."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # UTF-16 with its byte-order mark
            text = data.decode("utf-16")
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:  # Latin-1 and other 8-bit text: numbers and names still read
                text = data.decode("latin-1")
    except UnicodeDecodeError as e:
        raise InputError(parameter, f"'{os.path.basename(path)}' is not a CSV text file ({e}).") from None
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in r)]
    except csv.Error as e:
        raise InputError(parameter, f"'{os.path.basename(path)}' is not a CSV text file ({e}).") from None
    if rows and len(rows[0]) == 1 and len(rows) >= 2:  # the header shows the separator: data rows with decimal
        # commas ('400;0,5') would otherwise split into cells that are not numbers
        decimal_commas = " and commas for decimal points, as spreadsheets write CSV in many locales;" \
            if ";" in rows[0][0] else ";"
        raise InputError(parameter, f"'{os.path.basename(path)}' has a header row of one column: its values are not "
                                    f"separated by commas{decimal_commas} separate the wavelength (or band) and each "
                                    f"spectrum by commas, with points for decimals, and a header row naming them "
                                    f"(tabs, semicolons and spaces are not separators here).")
    if len(rows) < 3 or len(rows[0]) < 2:
        raise InputError(parameter, f"'{os.path.basename(path)}' needs a header row and at least two rows of "
                                    f"wavelength (or band) and reflectance.")
    header = [h.strip() for h in rows[0]]
    band_space = header[0].lower() == "band"
    first_value = 2 if band_space and len(header) > 2 and header[1].lower() == "centre_nm" else 1

    def number(text, where):
        try:
            return float(text) if text.strip() else np.nan
        except ValueError:
            raise InputError(parameter, f"'{os.path.basename(path)}': '{text}' in {where} is not a number.") from None

    for i, r in enumerate(rows[1:]):
        if len(r) != len(header):
            raise InputError(parameter, f"'{os.path.basename(path)}': row {i + 2} has {len(r)} cells, the header "
                                        f"{len(header)}; every row needs one value per column.")
    values = np.array([[number(c, f"row {i + 2}") for c in r[first_value:len(header)]] for i, r in enumerate(rows[1:])])
    source = f"'{os.path.basename(path)}'"
    names = header[first_value:]
    if not all(names):
        raise InputError(parameter, f"{source}: column {names.index('') + first_value + 1} has no name in the header "
                                    f"row; every spectrum needs one.")
    _refuse_repeated_names(names, source, parameter)
    if band_space:
        bands = tuple(r[0].strip() for r in rows[1:])
        counts = collections.Counter(b.upper() for b in bands)
        repeated = sorted({b for b in bands if counts[b.upper()] > 1})
        if repeated:
            raise InputError(parameter, f"{source} lists band {', '.join(repeated)} more than once; each band "
                                        f"needs one row.")
        centres = {b: number(r[1], f"the centre_nm column of band {b}") for b, r in zip(bands, rows[1:])} \
            if first_value == 2 else {}
        return SpectralLibrary([Spectrum(n, values[:, i], bands=bands, info={"source": path, "centres": centres})
                                for i, n in enumerate(names)], source, parameter)
    wavelengths = np.array([number(r[0], "the wavelength column") for r in rows[1:]])
    if not np.isfinite(wavelengths).all():
        row = int(np.flatnonzero(~np.isfinite(wavelengths))[0]) + 2
        raise InputError(parameter, f"'{os.path.basename(path)}': row {row} has no wavelength; every row needs one.")
    wavelengths = _checked_wavelengths(wavelengths * _wavelength_factor(wavelengths, units, parameter), source,
                                       parameter)
    return SpectralLibrary([Spectrum(n, values[:, i], wavelengths=wavelengths, info={"source": path})
                            for i, n in enumerate(names)], source, parameter)


def _refuse_repeated_names(names, source, parameter):
    """Each spectrum its own name: SAM's classes and CLASS_ANGLES go by name, whatever the case."""
    seen = {}
    for n in names:
        if n.strip().lower() in seen:
            raise InputError(parameter, f"{source} names two spectra '{seen[n.strip().lower()]}' and '{n}'; give each "
                                        f"spectrum a name of its own.")
        seen[n.strip().lower()] = n


_ENVI_TYPES = {1: np.uint8, 2: np.int16, 3: np.int32, 4: np.float32, 5: np.float64, 12: np.uint16, 13: np.uint32}


def read_envi_header(path):
    with open(path, errors="replace") as f:
        text = f.read()
    if not text.lstrip().upper().startswith("ENVI"):
        raise ValueError("not an ENVI header")
    out = {}
    for key, value in re.findall(r"^\s*([^=\n]+?)\s*=\s*(\{[^}]*\}|[^\n]*)", text, re.MULTILINE):
        value = value.strip()
        out[key.strip().lower()] = [v.strip() for v in value[1:-1].split(",")] if value.startswith("{") else value
    return out


def read_envi_library(path, parameter="LIBRARY"):
    """ENVI spectral library: .sli (binary, one spectrum per line) with its .hdr."""
    base = os.path.splitext(path)[0]
    header_path = next((p for p in (path + ".hdr", base + ".hdr") if os.path.exists(p)), None)
    if header_path is None:
        raise InputError(parameter, f"'{os.path.basename(path)}' has no ENVI header (.hdr) beside it.")
    name = os.path.basename(header_path)
    try:
        h = read_envi_header(header_path)
        samples, lines = int(h["samples"]), int(h["lines"])
        if str(h.get("byte order", "0")).strip() not in ("0", "1"):
            raise ValueError(f"byte order = {h['byte order']}: it is 0 (little-endian) or 1 (big-endian)")
        dtype = np.dtype(_ENVI_TYPES[int(h.get("data type", 4))]).newbyteorder(">" if h.get("byte order") == "1" else "<")
        offset = int(h.get("header offset", 0))
        factor = float(h.get("reflectance scale factor", 1) or 1)
        ignore = float(h["data ignore value"]) if h.get("data ignore value") else None
        wavelengths = np.array([float(w) for w in h["wavelength"]]) if "wavelength" in h else None
    except (KeyError, ValueError, UnicodeDecodeError) as e:
        raise InputError(parameter, f"'{name}' is not a readable ENVI header ({e}).") from None
    if samples <= 0 or lines <= 0 or offset < 0 or not (math.isfinite(factor) and factor > 0):
        raise InputError(parameter, f"'{name}': samples and lines must be positive, the header offset not negative "
                                    f"and the reflectance scale factor a positive number.")
    size = os.path.getsize(path)
    if offset > size:  # numpy would raise on an offset beyond a C long, or say only 'Invalid argument'
        raise InputError(parameter, f"'{name}': the header offset {offset} lies beyond the end of "
                                    f"'{os.path.basename(path)}' ({size} bytes).")
    data = np.fromfile(path, dtype=dtype, offset=offset)
    if data.size != samples * lines:
        raise InputError(parameter, f"'{os.path.basename(path)}' holds {data.size} values; its header promises "
                                    f"{lines} spectra x {samples} channels.")
    data = data.reshape(lines, samples).astype(np.float64)
    if ignore is not None:  # a gap in a spectrum: resampling uses the channels around it
        data[data == ignore] = np.nan
    data /= factor  # ENVI: the value that, divided into the data, gives reflectance 0-1
    names = h.get("spectra names") or [f"spectrum {i + 1}" for i in range(lines)]
    if len(names) != lines:
        raise InputError(parameter, f"'{name}' names {len(names)} spectra but holds {lines}; give one name per spectrum.")
    _refuse_repeated_names(names, f"'{name}'", parameter)
    if wavelengths is None or len(wavelengths) != samples:
        listed = "no wavelengths" if wavelengths is None else f"{len(wavelengths)} wavelengths"
        raise InputError(parameter, f"'{name}' lists {listed} for its {samples} channels ('samples'); give one "
                                    f"wavelength per channel.")
    unit = str(h.get("wavelength units", "auto")).lower()
    wavelengths = _checked_wavelengths(
        wavelengths * _wavelength_factor(wavelengths, {"nanometers": "nm", "micrometers": "um"}.get(unit, unit),
                                         parameter), f"'{name}'", parameter)
    return SpectralLibrary([Spectrum(n, data[i], wavelengths=wavelengths, info={"source": path})
                            for i, n in enumerate(names)], f"'{os.path.basename(path)}'", parameter)


def read_library_file(path, units="auto", parameter="LIBRARY"):
    if not os.path.isfile(path):
        raise InputError(parameter, f"'{path}' does not exist.")
    if path.lower().endswith(".csv") or path.lower().endswith(".txt"):
        return read_csv_library(path, units, parameter)
    if path.lower().endswith((".sli", ".esl")):
        return read_envi_library(path, parameter)
    raise InputError(parameter, f"'{os.path.basename(path)}' is neither a CSV (.csv) nor an ENVI spectral library "
                                f"(.sli with .hdr).")


# ---- the image itself -------------------------------------------------------------------------------

def library_from_points(image, points, window=3, parameter="POINTS"):
    """One spectrum per label: the mean reflectance of window x window pixels around each point
    (points as (x, y, label) in the image's CRS), averaged over the points of that label."""
    names = image.band_names
    x, y, labels = zip(*points) if points else ((), (), ())
    values, status = sample_image(image, names, x, y, window)
    sums, counts = {}, {}
    for spectrum, ok, label in zip(values, status == "ok", labels):
        if ok:
            sums[str(label)] = sums.get(str(label), 0) + spectrum
            counts[str(label)] = counts.get(str(label), 0) + 1
    if not sums:
        raise InputError(parameter, f"none of the {len(points)} points falls on valid pixels of the image.")
    spectra = [Spectrum(k, sums[k] / counts[k], bands=tuple(names), info={"points": counts[k]}) for k in sums]
    library = SpectralLibrary(spectra, "the image at the given points", parameter)
    library.skipped = int((status != "ok").sum())
    return library


# ---- choosing endmembers, writing results -----------------------------------------------------------

def default_endmember_names():
    """The alteration minerals of Munzareen et al. (2025) that USGS splib07 holds (chalcocite is absent)."""
    return [e["name"] for e in usgs_selection()["paper001_endmembers"]]


def endmember_library(names=None, library_path=None, units="auto", points_library=None, parameter="ENDMEMBERS",
                      all_samples=False):
    """The spectra to match: from points of the image, a library file, or the bundled USGS library (with
    all_samples, every sample of a named mineral, see usgs_mineral_samples)."""
    if library_path and points_library is not None:
        raise InputError("LIBRARY", "give spectra either in LIBRARY or from POINTS, not both.")
    folded = [n.strip().lower() for n in names or []]
    twice = next((n.strip() for n in names or [] if folded.count(n.strip().lower()) > 1), None)
    if twice:
        raise InputError(parameter, f"{twice} is named {folded.count(twice.lower())} times (names are matched "
                                    f"ignoring case); name each spectrum once.")
    if points_library is not None:
        library = points_library
    elif library_path:
        library = read_library_file(library_path, units)  # its errors and resampling's name LIBRARY
    else:
        pick = usgs_mineral_samples if all_samples else usgs_endmembers
        return pick(names or default_endmember_names(), parameter)
    return library.select(names, parameter) if names else library


def write_resampled_csv(path, sensor, band_names, names, matrix):
    """Bands as rows, spectra as columns: the layout read_csv_library reads back as a band-space library."""
    with staged(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["band", "centre_nm"] + list(names))
        for j, b in enumerate(band_names):
            w.writerow([b, f"{sensor.band(b).centre_nm:.2f}"] + [f"{v:.6f}" for v in matrix[:, j]])
