"""What every Prospectra algorithm shares: the image parameters, error translation, styling hand-off."""
import glob
import math
import os
import re
import signal
import threading
from contextlib import contextmanager

from qgis.core import (QgsProcessingAlgorithm,
                       QgsProcessingException,
                       QgsProcessingLayerPostProcessorInterface, QgsProcessingOutputLayerDefinition,
                       QgsProcessingParameterEnum, QgsProcessingParameterFeatureSource, QgsProcessingParameterFile,
                       QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString, QgsProcessingUtils, QgsProperty,
                       QgsRasterLayer, QgsVectorFileWriter)
from osgeo import gdal, ogr
from qgis.PyQt import sip
from qgis.PyQt.QtGui import QIcon

from ..core.errors import PIP_NAMES, Canceled, InputError, ProspectraError, require
from ..core.io.blocks import check_outputs, companions, temporary_name
from ..core.io.image import LOWEST_MEASURED, RESAMPLINGS, SCALINGS, open_image, open_raster
from ..core.io.outputs import OutputTransaction
from ..core.sensors import sensors
from .compat import ADVANCED, DOUBLE, FILE_BEHAVIOR, RASTER
from .features import input_paths
from .parameters import RasterInputs, is_file, items, names_a_file
from .provider_icon import ICON

DEFAULT_SENSOR = "sentinel2a_msi"
INPUT_TYPES = ("raster", "vector", "source", "multilayer", "layer")  # parameters naming layers read (or a "file")
GROUPS = {"scenes": "Scenes", "bands": "Band combinations and ratios", "spectral": "Spectral mapping", "classification": "Classification",
          "inversion": "Geochemistry and inversion"}


def file_of(uri):
    """The file of an output's URI: a path, 'ogr:dbname=...' or 'path|layername=...'; None for memory layers and
    databases."""
    if not uri or uri.startswith(("memory:", "postgres", "postgis:", "spatialite:")):
        return None
    if uri.startswith("ogr:"):
        match = re.search(r"dbname='([^']+)'", uri)
        return match.group(1) if match else None
    return uri.split("|")[0]


def citation_list(presets, describe):
    return "".join(f"<li><b>{p.label}</b>: {describe(p)}. <i>{p.source}</i></li>" for p in presets)


class ProspectraAlgorithm(QgsProcessingAlgorithm):
    """Base: createInstance, icon, image parameters, and execute() that turns engine errors into messages."""

    group_id = ""  # a key of GROUPS, set by each algorithm
    packages = ()  # Python modules beyond what QGIS ships that execute() needs, checked before any work

    def help_html(self):
        return ""

    def shortHelpString(self):  # noqa: N802
        if not self.packages:
            return self.help_html()
        names = ", ".join(dict.fromkeys(PIP_NAMES.get(m.split(".")[0], m) for m in self.packages))
        return (self.help_html() + f"<p><b>Needs</b> the Python packages {names}. If one is missing, running the "
                "algorithm says which and gives the command that installs it into the Python QGIS uses.</p>")

    def createInstance(self):  # noqa: N802
        return type(self)()

    def group(self):
        return GROUPS[self.group_id]

    def groupId(self):  # noqa: N802
        return self.group_id

    def icon(self):
        return QIcon(ICON)

    def add_sensor_parameter(self):
        self.addParameter(QgsProcessingParameterEnum(
            "SENSOR", "Sensor", [s.name for s in sensors().values()],
            defaultValue=list(sensors()).index(DEFAULT_SENSOR)))

    def sensor(self, parameters, context):
        return list(sensors().values())[self.parameterAsEnum(parameters, "SENSOR", context)]

    def add_image_parameters(self):
        self.addParameter(RasterInputs(
            "INPUT", "Input image (one multiband raster, or one single-band raster per band)"))
        self.add_sensor_parameter()
        self.addParameter(QgsProcessingParameterString(
            "BAND_ORDER", "Band names in input order, e.g. B2,B3,B4 (empty: from the image)", optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            "SCALING", "Reflectance scaling", list(SCALINGS.values()), defaultValue=0))
        advanced = [
            QgsProcessingParameterNumber("SCALE", "Custom scale (reflectance = DN x SCALE + OFFSET)",
                                         DOUBLE, optional=True),
            QgsProcessingParameterNumber("OFFSET", "Custom offset", DOUBLE,
                                         optional=True),
            QgsProcessingParameterNumber("INPUT_NODATA", "Input nodata value (empty: from the raster or product)",
                                         DOUBLE, optional=True),
            QgsProcessingParameterEnum("RESAMPLING", "Resampling when bands are on different grids",
                                       RESAMPLINGS, defaultValue=0),
            QgsProcessingParameterNumber("RESOLUTION", "Output pixel size in the input's units (0: the finest band)",
                                         DOUBLE, defaultValue=0.0, minValue=0.0),
        ]
        for p in advanced:
            self.add_advanced(p)

    def add_advanced(self, parameter):
        parameter.setFlags(parameter.flags() | ADVANCED)
        self.addParameter(parameter)

    def add_cut_parameters(self, label="Stretch"):
        for name, bound, value in (("CUT_LOWER", "lower", 2.0), ("CUT_UPPER", "upper", 98.0)):
            self.add_advanced(QgsProcessingParameterNumber(
                name, f"{label}: {bound} cumulative cut (%)", DOUBLE,
                defaultValue=value, minValue=0.0, maxValue=100.0))

    def cut(self, parameters, context):
        cut = (self.parameterAsDouble(parameters, "CUT_LOWER", context),
               self.parameterAsDouble(parameters, "CUT_UPPER", context))
        if not cut[0] < cut[1]:
            raise InputError("CUT_LOWER", f"the lower cut ({cut[0]} %) must be below the upper cut ({cut[1]} %).")
        return cut

    def image(self, parameters, context, feedback):
        paths = self.raster_files(parameters, "INPUT", context)
        if not paths:
            raise InputError("INPUT", "no raster layer given.")
        order = self.parameterAsString(parameters, "BAND_ORDER", context).strip()
        scaling = list(SCALINGS)[self.parameterAsEnum(parameters, "SCALING", context)]
        scale, offset = (self.optional_number(parameters, n, context) for n in ("SCALE", "OFFSET"))
        image = open_image(
            paths, self.sensor(parameters, context).id,
            band_order=[b for b in order.replace(";", ",").split(",") if b.strip()] or None,
            scaling=scaling, scale=scale, offset=offset,
            nodata=self.optional_number(parameters, "INPUT_NODATA", context),
            resampling=RESAMPLINGS[self.parameterAsEnum(parameters, "RESAMPLING", context)],
            resolution=self.parameterAsDouble(parameters, "RESOLUTION", context) or None)
        self._images = getattr(self, "_images", []) + [image]  # what their reads left out is said at the end
        given = [n for n, v in (("SCALE", scale), ("OFFSET", offset)) if v is not None]
        if given and scaling != "custom":  # the scaling in force wins (an MTL's, the file's own ...): say so
            feedback.pushWarning(f"{' and '.join(given)} {'are' if len(given) > 1 else 'is'} used only with the "
                                 f"SCALING '{SCALINGS['custom']}', and ignored: the bands are scaled by "
                                 f"{image.scaling_source}. To apply your own, choose that SCALING.")
        return image

    def warn_undeclared_fill(self, feedback):
        """A warning when the run's images held values below LOWEST_MEASURED, which the reader left as nodata."""
        lowest = [v for v in (image.lowest_left_out() for image in getattr(self, "_images", [])) if v is not None]
        if lowest:
            feedback.pushWarning(f"INPUT holds values below {LOWEST_MEASURED:g} after scaling (as low as "
                                 f"{min(lowest):g}), which no reflectance takes: they were taken for a fill value "
                                 f"the file does not declare, such as -9999, and are nodata in every output. If "
                                 f"they are data, choose the right SCALING (reflectance x 10000 read as "
                                 f"reflectance?); if a fill, declare it in INPUT_NODATA.")

    def warn_no_signal(self, feedback):
        """A warning naming the bands of the run's images that held one value in every valid pixel read: a run on
        them gives a uniform output or a single class without error. Noted by the reads as they went."""
        for image in getattr(self, "_images", []):
            flat = image.constant_bands()
            listed = ", ".join(f"{n} {v:g}" for n, v in flat.items())
            if flat and len(flat) == len(image.constant):  # every band read
                feedback.pushWarning(f"INPUT holds one value in every valid pixel of every band read ({listed}): the "
                                     f"image carries no signal, so the output (uniform, or a single class) says "
                                     f"nothing about the ground. Is it a blank or fill-only file, or a fill value "
                                     f"not declared in INPUT_NODATA?")
            elif flat:
                feedback.pushWarning(f"INPUT bands {listed} hold one value in every valid pixel read: they carry no "
                                     f"signal (a blank or dead band?), and add nothing to the output.")

    def optional_number(self, parameters, name, context):
        """The number given, or None where the optional parameter was left empty (parameterAsDouble says 0)."""
        return None if parameters.get(name) in (None, "") else self.parameterAsDouble(parameters, name, context)

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """Where QGIS would only say 'Incorrect parameter value': a number that is not finite or out of its range,
        a file that is no raster, a folder given for a file. The message names the parameter and what it takes."""
        for definition in self.parameterDefinitions():
            value = parameters.get(definition.name())
            if not isinstance(definition, QgsProcessingParameterNumber) or value in (None, ""):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                if isinstance(value, str):  # QGIS reads text as 0 (THRESHOLD=abc tagged every patch)
                    return False, f"{definition.name()}: '{value}' is not a number."
                continue  # an expression (QgsProperty) or a model input: QGIS evaluates it
            lo, hi = definition.minimum(), definition.maximum()
            if not math.isfinite(number):
                return False, f"{definition.name()}: {value} is not a finite number."
            if not lo <= number <= hi:
                span = " to ".join(f"{v:g}" for v in (lo, hi) if abs(v) < 1e300) or "any"
                side = f"at least {lo:g}" if abs(hi) >= 1e300 else f"at most {hi:g}" if abs(lo) >= 1e300 else span
                return False, f"{definition.name()}: {number:g} is out of range; it must be {side}."
        for definition in self.parameterDefinitions():
            values = parameters.get(definition.name())
            # a folder: QGIS says 'Incorrect parameter value' or the engine 'does not exist' (a folder 'x.onnx')
            if isinstance(definition, QgsProcessingParameterFile) and definition.behavior() == FILE_BEHAVIOR \
                    and isinstance(values, str) and os.path.isdir(values):
                kind = "a model file" if definition.name().startswith("MODEL") else "a file"
                return False, f"{definition.name()}: '{values}' is a folder, not {kind}; choose the file itself."
            # a file that is no raster: QGIS would say one it cannot load is 'not found'
            if not is_raster_parameter(definition):
                continue
            for value in items(values):
                if names_a_file(value) and not is_file(value):  # "x.tif|option:...": the run reads no options
                    return False, (f"{definition.name()}: '{value}' adds layer options after '|', which Prospectra "
                                   f"does not read; give the file alone ('{value.split('|')[0]}').")
                if is_file(value):
                    try:
                        open_raster(value, definition.name())
                    except InputError as e:
                        return False, str(e)
        # QGIS's own check (QgsProcessingAlgorithm::checkParameterValues, one parameter at a time), where raster
        # files opened above are checked without loading them (parameters.RasterInput); other values as QGIS would.
        store = context.temporaryLayerStore()
        before = set(store.mapLayers())
        try:
            with no_statistics_beside_inputs():  # layers of other kinds, and rasters named other than by a file
                for definition in self.parameterDefinitions():
                    if not definition.checkValueIsAcceptable(parameters.get(definition.name()), context):
                        return False, (self.invalid_raster(parameters, definition, context)
                                       if is_raster_parameter(definition) else
                                       self.invalidSourceError(parameters, definition.name())
                                       if isinstance(definition, QgsProcessingParameterFeatureSource) else
                                       f"Incorrect parameter value for {definition.name()}")
        finally:  # QGIS keeps what it loaded for later steps, which would find them without their .aux.xml
            for layer_id in set(store.mapLayers()) - before:
                store.removeMapLayer(layer_id)
        return True, ""

    def invalid_raster(self, parameters, definition, context):
        """Why QGIS refused a raster parameter's value: the path it names that is a folder or is not there (QGIS
        says 'Incorrect parameter value', or 'not found' of a folder), else QGIS's own message."""
        name, values = definition.name(), parameters.get(definition.name())
        for value in items(values):
            if not isinstance(value, str) or not value or is_file(value) or \
                    QgsProcessingUtils.mapLayerFromString(value, context, False):  # a layer of the project
                continue
            if os.path.isdir(value):
                return f"{name}: '{value}' is a folder, not a raster file; choose the file itself."
            if value.startswith("/vsi"):
                return f"{name}: '{value}' is a GDAL virtual path, which QGIS does not load as a layer; give a file."
            return f"{name}: '{value}' does not exist (no such file, nor a layer of the project)."
        return (self.invalidRasterError(parameters, name) if isinstance(definition, QgsProcessingParameterRasterLayer)
                else f"Incorrect parameter value for {name}")

    def output_files(self, parameters, context):
        """{parameter: file path} of every output parameter set that is a file."""
        paths = {}
        for definition in self.destinationParameterDefinitions():
            if parameters.get(definition.name()) in (None, ""):
                continue
            try:
                path = (self.parameterAsFileOutput if isinstance(definition, QgsProcessingParameterFileDestination)
                        else self.parameterAsOutputLayer)(parameters, definition.name(), context)
            except Exception:  # noqa: BLE001 (a value QGIS cannot turn into a path: the run says why later)
                continue
            paths[definition.name()] = file_of(path)
        return paths

    def input_files(self, parameters, context):
        """The files the layer and file parameters name: no output may replace one."""
        files = []
        for definition in self.parameterDefinitions():
            if definition.isDestination():
                continue
            value = parameters.get(definition.name())
            if definition.type() == "file":  # a model, a library: a path, never a layer to resolve
                files.append(self.parameterAsFile(parameters, definition.name(), context))
            elif definition.type() in INPUT_TYPES:
                files += input_paths(context, *items(value))
        return files

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        try:
            require(self.displayName(), *self.packages)
            self._images, self._sinks = [], []
            outputs = self.output_files(parameters, context)
            # Before the transaction keeps an output's earlier file aside: were it an input, a refused run would
            # still have removed and put back the user's file (a new inode, cut off from whoever had it open).
            check_outputs(self.input_files(parameters, context), **outputs)
            with terminate_as_cancel(feedback), OutputTransaction(outputs):  # all, or none
                try:
                    results = self.execute(parameters, context, feedback)
                finally:
                    closed = self.close_sinks()
                results = self.finish_sinks(closed, results)
            self.warn_undeclared_fill(feedback)
            self.warn_no_signal(feedback)
            return results
        except ProspectraError as e:  # the one place engine errors become QGIS's
            raise QgsProcessingException(str(e)) from None
        except OSError as e:  # the file system failed under the run (a folder removed, a full disk, a lost share)
            raise QgsProcessingException(f"a file could not be written or read: {e.strerror or e}"
                                         f"{f' ({e.filename})' if e.filename else ''}. Was a folder removed, or is the "
                                         f"disk full? No output of this run was kept.") from None

    def output_path(self, parameters, name, context):
        path = self.parameterAsOutputLayer(parameters, name, context)
        if path and os.path.splitext(path)[1].lower() not in (".tif", ".tiff"):
            raise InputError(name, f"'{path}' is not a GeoTIFF name; Prospectra writes .tif files.")
        return path

    def file_output(self, parameters, name, context, *extensions):
        """The file an output parameter names (None if unset), refused unless it ends in one of extensions: the
        format is fixed, and a report in 'r.txt' or a table in 'c.png' would mislead whoever opens it."""
        path = self.parameterAsFileOutput(parameters, name, context) or None
        if path and os.path.splitext(path)[1].lower() not in extensions:
            raise InputError(name, f"'{path}' does not end in {' or '.join(extensions)}; this output is written in "
                                   f"that format.")
        return path

    def raster_files(self, parameters, name, context):
        """The files of a raster layer parameter (one, or a list). A file path is taken as it is: loading it as a
        layer, QGIS computes statistics for the layer's stretch, which GDAL writes beside the user's raster
        (.aux.xml) when the layer is dropped. Layers of the project and layer ids are resolved by QGIS."""
        several = isinstance(self.parameterDefinition(name), QgsProcessingParameterMultipleLayers)
        files = []
        for item in items(parameters.get(name)):  # one by one, in order: a file listed beside a layer stays a file
            if is_file(item):
                files.append(item)
                continue
            for layer in (self.parameterAsLayerList({name: item}, name, context) if several else
                          [self.parameterAsRasterLayer({name: item}, name, context)]) or []:
                if layer is None:
                    continue
                if not isinstance(layer, QgsRasterLayer):
                    raise InputError(name, f"'{layer.name()}' is not a raster layer.")
                files.append(layer.source())
        return files

    def sink_file(self, parameters, name, context):
        """The file a vector output is written to, or None (a temporary layer in memory, a database); refused
        unless its extension names a format QGIS writes (QGIS would add '.gpkg' to the name it was given)."""
        uri = self.parameterAsOutputLayer(parameters, name, context)
        path = file_of(uri)
        if path and path != uri and not uri.startswith("ogr:"):  # 'x.gpkg|layername=y' names a layer only to read
            raise InputError(name, f"'{uri}' names a layer the way an input does, which QGIS does not read in an "
                                   f"output: it would write a new GeoPackage under that whole name, '|' and all. "
                                   f"Give a file name ('{path}'), or a layer of a GeoPackage as "
                                   f"ogr:dbname='{path}' table=\"{uri.rpartition('=')[2] or 'layer'}\" (geom).")
        extension = os.path.splitext(path)[1][1:].lower() if path else ""
        if path and extension not in QgsVectorFileWriter.supportedFormatExtensions():
            raise InputError(name, f"'{path}' does not end in the extension of a vector format QGIS writes (.gpkg, "
                                   f".shp, .geojson ...); add one.")
        if extension in MISLEADING_VECTOR_EXTENSIONS:
            raise InputError(name, f"'{path}' would be written in the {QgsVectorFileWriter.driverForExtension(extension)}"
                                   f" format, which its name does not suggest; end it in .gpkg, .shp, .geojson or "
                                   f".csv.")
        return path

    def sink(self, parameters, name, context, fields, geometry_type, crs):
        """parameterAsSink: (sink, its id); the sink is None for an output left unset. A file of its own is written
        under a temporary name beside it, with the layer name its own name gives, and renamed when the run
        succeeds (finish_sinks): a run killed while writing leaves no broken file at the user's path. Written
        where QGIS writes them: a layer added to an existing GeoPackage ('ogr:' URI; the output transaction keeps
        the file), formats not in STAGED_FORMATS (GML names its schema file inside; QGIS adds an extension of its
        own to .json ...), databases and temporary layers."""
        path = self.sink_file(parameters, name, context)
        if not path or path != self.parameterAsOutputLayer(parameters, name, context) or \
                os.path.splitext(path)[1].lower() not in STAGED_FORMATS:
            return self.parameterAsSink(parameters, name, context, fields, geometry_type, crs)
        given = parameters.get(name)
        staged = QgsProcessingOutputLayerDefinition(given) if isinstance(given, QgsProcessingOutputLayerDefinition) \
            else QgsProcessingOutputLayerDefinition()
        stem, ext = os.path.splitext(path)
        temporary = temporary_name(path, ext)
        staged.sink = QgsProperty.fromValue(temporary)
        staged.createOptions = dict(staged.createOptions or {}, layerName=os.path.basename(stem))
        staged.destinationProject = None  # QGIS loads the layer at path, registered when path was asked for above
        sink, sink_id = self.parameterAsSink(dict(parameters, **{name: staged}), name, context, fields, geometry_type,
                                             crs)
        self._sinks.append((name, sink, sink_id, temporary, path))
        return sink, sink_id

    def close_sinks(self):
        """Close the staged sinks, which writes their last features: QGIS closes a sink only when it is deleted,
        and whoever still holds it (a traceback, a closure) would keep it open. Returns what finish_sinks takes:
        [(parameter, id, temporary path, path, error)], error saying why the last features could not be written."""
        sinks, self._sinks, closed = self._sinks, [], []
        for name, sink, sink_id, temporary, path in sinks:
            try:
                if hasattr(sink, "finalize"):  # QGIS 3.42+: the last write, with its errors
                    sink.finalize()
                error = None if sink.flushBuffer() else sink.lastError() or "unknown error"
                sip.delete(sink)
            except Exception as e:  # noqa: BLE001 (the run fails with it; a run failing already keeps its error)
                error = str(e)
            closed.append((name, sink_id, temporary, path, error))
        return closed

    @staticmethod
    def finish_sinks(closed, results):
        """Each closed sink's files, once read back whole, renamed to the user's path (a shapefile's .dbf and the
        like with it; the earlier file's others removed); the results name that path, as QGIS names a file it
        wrote under its own name. A file the writer left beside them (a database journal: the file was not
        completed) or a file cut short fails the run, which the transaction undoes."""
        for name, sink_id, temporary, path, error in closed:
            # by extension in any case: QGIS writes a shapefile's files as .shp, .dbf ... whatever case it was given
            staged_stem, stem = os.path.splitext(temporary)[0], os.path.splitext(path)[0]
            written = {f[len(staged_stem):].lower(): f for f in glob.glob(glob.escape(staged_stem) + ".*")}
            targets = {f[len(stem):].lower(): f for f in companions(path)}
            main = written.get(os.path.splitext(path)[1].lower())
            # QGIS 3.22-3.40 let a write that fails when the sink is deleted pass unsaid: read the file back
            error = error or (unreadable(main) if main else "nothing was written")
            if error:
                raise InputError(name, f"the features could not be written to '{path}': {error}. Is the disk full?")
            left = set(written) - set(targets)
            if left:
                raise InputError(name, f"'{path}' could not be completed: the writer left "
                                       f"'{os.path.basename(written[min(left)])}' behind. Is the disk full?")
            for suffix, target in targets.items():
                if suffix in written:
                    os.replace(written[suffix], target)
                elif os.path.lexists(target):  # the earlier file's .qix, .prj ...: a stale index hid features
                    os.remove(target)  # (the transaction keeps a copy until the run succeeds)
            results = {k: path if v == sink_id else v for k, v in results.items()}
        return results

    def load_style_on_completion(self, context, output, qml):
        """Style the output when QGIS loads it (toolbox, modeler); the .qml beside it serves qgis_process users."""
        if context.willLoadLayerOnCompletion(output):
            processor = LoadStyle(qml)
            self._post_processors = getattr(self, "_post_processors", []) + [processor]
            context.layerToLoadOnCompletionDetails(output).setPostProcessor(processor)


@contextmanager
def terminate_as_cancel(feedback):
    """While a run lasts, SIGTERM (a job killed by its scheduler, a stopped container, kill) ends it as Cancel does:
    it cancels the feedback, and the run stops at its next cancel check, where the output transaction takes back
    what it wrote. Raising from the handler instead struck wherever the run was, also inside the transaction's own
    bookkeeping: half-copied kept-aside files that a later run put back over the user's, mixed outputs. A SIGTERM
    after the last check finds the run done. Only where Python may handle signals, the main thread (qgis_process,
    scripts), and where the handler in place can be put back afterwards."""
    previous = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    if previous is None:  # a worker thread, or a handler set outside Python that could not be put back
        yield
        return
    stopped = []

    def stop(signum, frame):
        stopped.append(signum)
        feedback.cancel()

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except Canceled:
        if not stopped:
            raise
        raise Canceled("the run was stopped (SIGTERM); no output of it was kept, and earlier outputs are as they "
                       "were.") from None
    finally:
        signal.signal(signal.SIGTERM, previous)


# Extensions QGIS writes in a format nobody opening such a file expects: '.txt' as Geoconcept, '.xml' as PDS4 (NASA's
# planetary archive format)
MISLEADING_VECTOR_EXTENSIONS = {"txt", "xml"}
# The vector formats QGIS writes under the very name it is given (each checked): their files can be written under a
# temporary name and renamed
STAGED_FORMATS = {".gpkg", ".shp", ".geojson", ".fgb", ".csv", ".kml", ".sqlite", ".tab", ".xlsx", ".ods"}


def unreadable(path):
    """Why the vector file at path cannot be read back whole (a file cut short by a full disk), or None."""
    errors = []

    def collect(level, number, message):
        if level >= gdal.CE_Failure:
            errors.append(message)

    gdal.PushErrorHandler(collect)
    try:
        source = ogr.Open(path)
        if source is None:
            return "it cannot be opened"
        for i in range(source.GetLayerCount()):
            for _ in source.GetLayer(i):
                pass
    except RuntimeError as e:  # where GDAL raises
        errors.append(str(e))
    finally:
        gdal.PopErrorHandler()
    return errors[0] if errors else None


def is_raster_parameter(definition):
    return isinstance(definition, QgsProcessingParameterRasterLayer) or (
        isinstance(definition, QgsProcessingParameterMultipleLayers) and definition.layerType() == RASTER)


@contextmanager
def no_statistics_beside_inputs():
    """While QGIS loads inputs as layers to check the parameters, GDAL keeps no .aux.xml for them: QGIS computes
    statistics for a new layer's stretch, and GDAL wrote them beside the user's raster when the layer was dropped
    (a 0.5 MB histogram beside a float scene). For this thread only."""
    previous = gdal.GetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)
    gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "NO")
    try:
        yield
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", previous)


class LoadStyle(QgsProcessingLayerPostProcessorInterface):
    def __init__(self, qml):
        super().__init__()
        self.qml = qml

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        layer.loadNamedStyle(self.qml)
        layer.triggerRepaint()
