"""Block-wise raster I/O: aligned windows over a grid, and a GeoTIFF writer that only
appears under its final name when everything was written."""
import math
import os
import socket
import tempfile
import uuid
from contextlib import contextmanager, nullcontext

import numpy as np
from osgeo import gdal

from ..errors import Canceled, InputError

gdal.UseExceptions()

HAS_ZSTD = "ZSTD" in (gdal.GetDriverByName("GTiff").GetMetadataItem("DMD_CREATIONOPTIONLIST") or "")
TILE = 256  # output tile edge; windows are multiples of it so each write fills whole tiles
BLOCK_PIXELS = 2 ** 21  # ~2 Mpixel (8 MB per float32 band) per window: memory bounded whatever the raster size

MAX_GRID_SIDE = 100_000  # the largest grid a run makes anew (Kriging's, a resampled image's)
MAX_GRID_PIXELS = 1_000_000_000  # 4 GB per float32 raster; a Sentinel-2 tile at 10 m is 0.12 Gpx


def windows(width, height, block_pixels=None, input_block=(1, 1)):
    """(xoff, yoff, xsize, ysize) windows covering the grid, row-major.

    Window edges fall on multiples of the output TILE and of the input's own block size (when that
    is small), so every input block is read once and every output tile written whole. Full-width
    strips when one fits the pixel budget, otherwise rectangles."""
    block_pixels = block_pixels or BLOCK_PIXELS
    unit_x, unit_y = (math.lcm(TILE, b) if b <= 1024 else TILE for b in input_block)
    if width * unit_y <= block_pixels:
        bw = width
        bh = max(unit_y, (block_pixels // width) // unit_y * unit_y)
    else:
        bh = unit_y
        bw = max(unit_x, (block_pixels // unit_y) // unit_x * unit_x)
    for y in range(0, height, bh):
        for x in range(0, width, bw):
            yield x, y, min(bw, width - x), min(bh, height - y)


def process_tag():
    """'<host>-<process id>': who writes a temporary file, so that a later run on the same host can tell a killed
    writer's leftovers (outputs.recover) and never touches another host's files on a shared folder."""
    return f"{socket.gethostname().split('.')[0].replace('.', '-')}-{os.getpid()}"


def temporary_name(path, suffix=""):
    """A hidden name beside path for writing it: '.<name>.<host>-<process id>.<random>.part<suffix>'."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.{process_tag()}.{uuid.uuid4().hex[:8]}.part{suffix}")


# The files a vector format writes beside its main file, under the same name (QGIS's vector writer, by extension)
SIDE_FILES = {".shp": (".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qpj", ".shp.xml"),
              ".gml": (".xsd", ".gfs"), ".tab": (".dat", ".map", ".id", ".ind")}


def companions(path):
    """What writing path puts on disk: the file, and the files written beside it under its name (a raster's
    .qml style and .aux.xml, a report's JSON, a shapefile's .dbf and the like). A report's PNG figures
    (stem_*.png) are matched by prefix."""
    stem, given = os.path.splitext(path)
    ext = given.lower()
    if ext in (".tif", ".tiff"):
        return [path, stem + ".qml", path + ".aux.xml"]
    if ext in (".html", ".htm"):
        return [path, stem + ".json"]
    return [path] + [stem + (side.upper() if given.isupper() else side) for side in SIDE_FILES.get(ext, ())]


def _same_file_key(path):
    """One key per file: links resolved, case folded where the file system folds it (Windows)."""
    return os.path.normcase(os.path.realpath(path))


def _writable(folder):
    """Whether a file can be created in folder: tried, since permissions say nothing of read-only mounts or of
    what root may do."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".prospectra-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.remove(probe)
    return True


def _files_read(path):
    """The other files GDAL reads for the raster at path (a VRT's sources; none for what is no raster)."""
    if not path or not os.path.isfile(path) or path.lower().endswith((".onnx", ".csv", ".txt", ".html", ".json")):
        return []
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        ds = gdal.OpenEx(path, gdal.OF_RASTER)
        return [f for f in (ds.GetFileList() or []) if os.path.isfile(f)] if ds is not None else []
    except RuntimeError:
        return []
    finally:
        gdal.PopErrorHandler()


def check_outputs(inputs, **outputs):
    """Before any work, for each PARAMETER=path (unset ones skipped): its folder exists and is writable, and
    neither it nor a file written beside it is an input or is written by another output. Errors name the
    parameter at fault (and the other output)."""
    given = {parameter: path for parameter, path in outputs.items() if path}
    sources = {_same_file_key(p): p for p in inputs if p}
    for p in inputs:  # the files a raster reads besides its own: a VRT's sources (an output over one changed the VRT)
        for f in _files_read(p):
            sources.setdefault(_same_file_key(f), f"{f}', read by '{p}")
    # An input's GDAL sidecar (which may declare its nodata) and its style are the user's too, and a style written
    # where none was becomes the style QGIS loads with the input (OUTPUT=in.tiff beside in.tif). A model is no
    # layer: the .qml beside x.onnx is the style of the map x.tif classified with it, which a new map x.tif
    # replaces (the demo's second run was refused).
    sidecars = {_same_file_key(c): p for p in inputs if p for c in (os.path.splitext(p)[0] + ".qml", p + ".aux.xml")
                if c.endswith(".aux.xml") or not p.lower().endswith(".onnx")}
    written = {}
    for parameter, path in given.items():
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise InputError(parameter, f"the folder '{folder}' does not exist; choose an existing folder.")
        if not _writable(folder):
            raise InputError(parameter, f"the folder '{folder}' is not writable; choose another folder.")
        if os.path.isdir(path):
            raise InputError(parameter, f"'{path}' is a folder; give a file name.")
        if len(os.path.basename(path).encode()) > 200:  # room for the temporary name the writers add
            raise InputError(parameter, f"the file name '{os.path.basename(path)[:40]}...' is longer than 200 bytes; "
                                        f"choose a shorter one.")
        figures = os.path.splitext(os.path.basename(path))[0] + "_" if path.lower().endswith((".html", ".htm")) else None
        for source_key, source in sources.items():
            if figures and os.path.dirname(source_key) == _same_file_key(folder) and \
                    os.path.basename(source).startswith(figures) and source.lower().endswith(".png"):
                raise InputError(parameter, f"writing '{path}' also writes its figures as {figures}*.png, which would "
                                            f"overwrite the input '{source}'; choose another name.")
        for written_path in companions(path):
            key = _same_file_key(written_path)
            if key in sources:
                what = f"'{path}' is" if written_path == path else \
                    f"writing '{path}' also writes '{os.path.basename(written_path)}', which is"
                raise InputError(parameter, f"{what} one of the inputs ('{sources[key]}'); choose another file name "
                                            f"(inputs are never overwritten).")
            if key in sidecars:
                raise InputError(parameter, f"writing '{path}' would write '{os.path.basename(written_path)}', the "
                                            f"style or GDAL sidecar QGIS reads with the input '{sidecars[key]}'; "
                                            f"choose another file name (what QGIS reads with an input is never "
                                            f"written).")
            if key in written and written[key] != parameter:
                raise InputError(parameter, f"{parameter} and {written[key]} would both write "
                                            f"'{written_path}'; give each output its own file name.")
            written[key] = parameter


class RasterWriter:
    """Tiled, DEFLATE-compressed GeoTIFF written under a temporary name and renamed on success.

    Use as a context manager: on any exception (including Canceled) the temporary file
    is deleted and nothing appears at the output path. predictor: the TIFF predictor (default: 3 for
    floats, 2 for integers; 1, none, suits rasters made of runs of equal values); zlevel: the DEFLATE
    level (default 6; 1 packs runs of equal bytes at a quarter of the CPU time); threads: GDAL's compression
    threads (1 where the cores are busy with other work already)."""

    def __init__(self, path, width, height, bands, dtype, geotransform, projection, nodata,
                 descriptions=None, predictor=None, zlevel=None, threads=2, fast=False):
        self.path = path
        self.tmp = temporary_name(path, ".tif")
        gdal_type = gdal.GetDataTypeByName(np.dtype(dtype).name.replace("uint8", "Byte"))
        # fast: ZSTD level 1 where GDAL has it, for bulky outputs (twice DEFLATE level 1's speed, the same size)
        compress = ["COMPRESS=ZSTD", "ZSTD_LEVEL=1"] if fast and HAS_ZSTD else ["COMPRESS=DEFLATE"] + \
            ([f"ZLEVEL={1 if fast else zlevel}"] if fast or zlevel else [])
        opts = ["TILED=YES", f"BLOCKXSIZE={TILE}", f"BLOCKYSIZE={TILE}", "BIGTIFF=IF_SAFER",
                f"PREDICTOR={predictor or (3 if np.dtype(dtype).kind == 'f' else 2)}",
                "INTERLEAVE=BAND" if bands > 1 else "INTERLEAVE=PIXEL", f"NUM_THREADS={threads}"] + compress
        self.ds = gdal.GetDriverByName("GTiff").Create(self.tmp, width, height, bands, gdal_type, opts)
        self.ds.SetGeoTransform(geotransform)
        self.ds.SetProjection(projection)
        for i in range(bands):
            band = self.ds.GetRasterBand(i + 1)
            band.SetNoDataValue(nodata)
            if descriptions:
                band.SetDescription(descriptions[i])

    def write(self, band_index, xoff, yoff, array):
        try:
            self.ds.GetRasterBand(band_index + 1).WriteArray(array, xoff, yoff)
        except RuntimeError as e:  # GDAL's, on a full disk: a failed write like any other (OSError)
            raise self._write_failed(e) from None

    def set_metadata(self, items):
        self.ds.SetMetadata({k: str(v) for k, v in items.items()})

    def set_classes(self, classes):
        """Name and colour each class value ({value: (name, '#rrggbb')}) as GDAL category names and a colour
        table, so any GIS shows the legend without the .qml. The colour table lives in the TIFF; GDAL keeps the
        names in the .aux.xml beside it, which is renamed with the raster."""
        band = self.ds.GetRasterBand(1)
        table = gdal.ColorTable()
        names = [""] * (max(classes) + 1)
        rat = gdal.RasterAttributeTable()  # GDAL reads the names back only beside an attribute table
        for column, kind, usage in (("value", gdal.GFT_Integer, gdal.GFU_MinMax), ("class", gdal.GFT_String, gdal.GFU_Name),
                                    ("red", gdal.GFT_Integer, gdal.GFU_Red), ("green", gdal.GFT_Integer, gdal.GFU_Green),
                                    ("blue", gdal.GFT_Integer, gdal.GFU_Blue)):
            rat.CreateColumn(column, kind, usage)
        rat.SetRowCount(len(classes))
        for row, (value, (name, colour)) in enumerate(sorted(classes.items())):
            rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
            table.SetColorEntry(int(value), rgb + (255,))
            names[int(value)] = name
            rat.SetValueAsInt(row, 0, int(value))
            rat.SetValueAsString(row, 1, name)
            for i, c in enumerate(rgb):
                rat.SetValueAsInt(row, 2 + i, c)
        band.SetRasterColorTable(table)
        band.SetDefaultRAT(rat)
        band.SetCategoryNames(names)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        ds, self.ds = self.ds, None
        if exc_type is None:
            try:
                ds.FlushCache()
            except RuntimeError as e:
                with _quiet_close():
                    ds = None
                self._remove_temporary()
                raise self._write_failed(e) from None
            ds = None
            os.replace(self.tmp, self.path)
            if os.path.exists(self.tmp + ".aux.xml"):
                os.replace(self.tmp + ".aux.xml", self.path + ".aux.xml")
            elif os.path.exists(self.path + ".aux.xml"):  # a stale one from an earlier run would describe other data
                os.remove(self.path + ".aux.xml")
        else:
            with _quiet_close():
                ds = None
            self._remove_temporary()
        return False

    def _write_failed(self, error):
        """GDAL's RuntimeError on a full disk as the OSError every failed write gives (its first line: GDAL 3.10
        repeats the cause)."""
        return OSError(f"'{self.path}' could not be written: {str(error).splitlines()[0]}")

    def _remove_temporary(self):
        for p in (self.tmp, self.tmp + ".aux.xml"):
            if os.path.exists(p):
                os.remove(p)


def _quiet_close():
    """Around dropping a dataset whose writes failed: GDAL 3.7+ raises the close's error from the destructor,
    where Python can only print it as a traceback; the run has its error already."""
    manager = getattr(gdal, "ExceptionMgr", None)
    return manager(useExceptions=False) if manager else nullcontext()


def class_names(band):
    """{value: name} that a class raster's band carries: its attribute table's name column (where
    RasterWriter.set_classes puts them, and where GDAL reads them back; else its first text column against its
    'Value' column, or against the row's value where the table has no value column but bins of one value each),
    else its GDAL category names."""
    rat = band.GetDefaultRAT()
    if rat is not None and rat.GetRowCount():
        columns = range(rat.GetColumnCount())
        usage = [rat.GetUsageOfCol(i) for i in columns]
        # other programs mark the columns less: a 'Value' column and the first text column (ArcGIS's Class_Name)
        name = usage.index(gdal.GFU_Name) if gdal.GFU_Name in usage else \
            next((i for i in columns if rat.GetTypeOfCol(i) == gdal.GFT_String), None)
        value = next((i for i, u in enumerate(usage) if u in (gdal.GFU_MinMax, gdal.GFU_Min)), None)
        if value is None:
            value = next((i for i in columns if rat.GetNameOfCol(i).lower() == "value"), None)
        binned, first, step = rat.GetLinearBinning()  # no value column: row r holds value first + r * step
        if name is not None and value is not None:
            return {rat.GetValueAsInt(r, value): rat.GetValueAsString(r, name).strip()
                    for r in range(rat.GetRowCount()) if rat.GetValueAsString(r, name).strip()}
        if name is not None and binned and step == 1 and first == int(first):  # bins of one whole value each
            return {int(first) + r: rat.GetValueAsString(r, name).strip()
                    for r in range(rat.GetRowCount()) if rat.GetValueAsString(r, name).strip()}
    return {v: n.strip() for v, n in enumerate(band.GetCategoryNames() or []) if n.strip()}


def one_blas_thread():
    """(context limiting BLAS to one thread, whether it could). Where the engine runs its own threads (or pykrige
    its C loop), BLAS threads only oversubscribe the cores. threadpoolctl comes with scikit-learn; without it BLAS
    keeps its threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext(), False
    return threadpool_limits(1, user_api="blas"), True


@contextmanager
def bounded_cache(max_bytes=64 * 2 ** 20):
    """Cap GDAL's block cache during a streaming pass.

    Windows never split an input block, so each is read once and caching gains nothing, while
    GDAL's default cache (5 % of RAM) would fill with the whole pass."""
    old = gdal.GetCacheMax()
    gdal.SetCacheMax(min(old, max_bytes))
    try:
        yield
    finally:
        gdal.SetCacheMax(old)


class Subsample:
    """Every k-th row and column of a raster, gathered block by block during a pass, for
    statistics such as stretches without reading the output again (about max_pixels values)."""

    def __init__(self, width, height, max_pixels=1_000_000):
        self.k = max(1, math.ceil(math.sqrt(width * height / max_pixels)))
        self.parts = []

    def add(self, window, values, valid):
        x, y = window[0], window[1]
        rows, cols = slice((-y) % self.k, None, self.k), slice((-x) % self.k, None, self.k)
        self.parts.append(values[rows, cols][valid[rows, cols]])

    def values(self):
        return np.concatenate(self.parts) if self.parts else np.empty(0, np.float32)


def step(feedback, done, total):
    """Report progress and stop on cancel, once per block."""
    if feedback.isCanceled():
        raise Canceled("Canceled by the user; no output was written.")
    feedback.setProgress(100.0 * done / max(total, 1))


def stepped(parts, feedback=None):
    """The parts of a piece of work in order (windows, passes), each after a step: progress and cancel."""
    parts = list(parts)
    for done, part in enumerate(parts):
        if feedback is not None:
            step(feedback, done, len(parts))
        yield part

