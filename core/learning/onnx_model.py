"""ONNX models that describe themselves (models/MODEL_SPEC.md): load once, check against an image
before any pixel is read, run in batches."""
import functools
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, repeated, require
from ..sensors import sensors

MODEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models")
REQUIRED = ("prospectra_spec", "task", "sensor", "bands", "patch_size", "version", "licence", "training_data")
TASKS = ("tagging", "classification", "regression")
@dataclass
class OnnxModel:
    path: str
    task: str
    sensor: str  # sensor id, or '' when declared by the user without one
    bands: list
    patch_size: int
    stride: int
    classes: list = field(default_factory=list)
    colours: list = field(default_factory=list)
    threshold: float = 0.5
    mean: np.ndarray = None
    std: np.ndarray = None
    meta: dict = field(default_factory=dict)
    target_range: tuple = None  # a regression model's lowest and highest training target, when its metadata says
    declared: bool = False  # the user declared what the model's metadata lacks
    parameter: str = "MODEL"  # the parameter the model was given in, named in errors about it

    @property
    def name(self):
        return os.path.splitext(os.path.basename(self.path))[0]

    def session(self, threads=None):
        return session_for(self.path, threads)

    def class_colours(self):
        """The colours the model's metadata gives its classes, else distinct mineral colours."""
        from ..report.palettes import mineral_colours

        return self.colours if len(self.colours) == len(self.classes) else mineral_colours(self.classes)

    def runs_on(self):
        """Where onnxruntime runs this model (device_note)."""
        import onnxruntime as ort

        return device_note(ort.get_available_providers(), self.session().get_providers())

    def check_image(self, image, parameter=None):
        """The image has the model's bands from a compatible sensor; raises before any pixel is read."""
        parameter = parameter or self.parameter
        if self.sensor:
            family = sensors()[self.sensor].family if self.sensor in sensors() else self.sensor
            if family != image.sensor.family:
                raise InputError(parameter, f"'{self.name}' was trained for {self.sensor} but SENSOR is "
                                            f"{image.sensor.name}; choose a model for {image.sensor.name}.")
        missing = [b for b in self.bands if b not in image.band_names]
        if missing:
            raise InputError(parameter, f"'{self.name}' needs bands {', '.join(self.bands)}; the image lacks "
                                        f"{', '.join(missing)} (it has {', '.join(image.band_names)}).")
        image.require_reflectance(self.bands)

    def refuse_wrong_width(self, outputs):
        """An error unless the model gave one value per class (one value per pixel for a regression)."""
        wanted = 1 if self.task == "regression" else len(self.classes)
        if outputs.shape[1] != wanted:
            what = "a content map takes one" if self.task == "regression" else f"it names {wanted} classes"
            raise InputError(self.parameter, f"'{self.name}' gives {outputs.shape[1]} values per pixel or patch, "
                                             f"but {what}.")

    def refuse_non_probabilities(self, outputs):
        """An error unless a tagger's or classifier's outputs are one probability (finite, 0 to 1) per class: a NaN
        would become no tag silently, and 3.0 would wrap around in a percent byte."""
        self.refuse_wrong_width(outputs)
        outside = outputs[~((outputs >= -1e-6) & (outputs <= 1 + 1e-6))]  # NaN fails both comparisons
        if outside.size:
            raise InputError(self.parameter, f"'{self.name}' returned {outside[0]:g} where a probability (0 to 1) was "
                                             f"expected; its outputs are not the probabilities Prospectra maps "
                                             f"(models/MODEL_SPEC.md).")

    def predict(self, patches):
        """patches: (n, bands, patch, patch) float32 reflectance -> (n, outputs) float32, in batches on every core."""
        return predict_rows(self.predictor(threads=1), patches)

    def predictor(self, normalise=True, threads=None):
        """predict(patches) of one batch, bound to a session looked up once, for many calls in a row.
        normalise=False when the patches are already normalised. threads: onnxruntime's threads per call
        (default: one per core); 1 suits callers that run several batches at once (predict_rows, tagging)."""
        session = self.session(threads)
        name = session.get_inputs()[0].name
        scale = normalise and self.mean is not None

        def predict(patches):
            x = (patches - self.mean[None, :, None, None]) / self.std[None, :, None, None] if scale else patches
            out = session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]
            return np.asarray(out, dtype=np.float32).reshape(len(patches), -1)

        return predict


def device_note(available, active):
    """One line for the log from onnxruntime's available and active providers: where the model runs, and
    when the CUDA provider is installed but did not start, that the CPU runs it instead."""
    if active[:1] == ["CUDAExecutionProvider"]:
        return "onnxruntime runs the model on the GPU (CUDA)."
    if "CUDAExecutionProvider" in available:
        return ("onnxruntime has the CUDA provider but it did not start (no usable GPU, or CUDA libraries "
                "missing): the model runs on the CPU instead.")
    return f"onnxruntime runs the model on the CPU ({os.cpu_count()} cores); install onnxruntime-gpu for CUDA."


def session_for(path, threads=None):
    """The cached onnxruntime session of the model file as it is now; threads per call (default: one per core)."""
    return _cached_session(path, os.path.getmtime(path), threads)


@functools.lru_cache(maxsize=2)  # the models in use: a big forest is not held after the next two models
def _cached_session(path, mtime, threads):
    return new_session(path, threads)


def new_session(source, threads=None):
    """An onnxruntime session of a model file or its bytes, with Prospectra's one thread and provider policy.
    Opening an ONNX model runs no code from it (unlike a pickle)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    # Idle workers sleep instead of spinning: QGIS and GDAL share the cores, and on a busy 2-core machine
    # spinning made Random Forest prediction 35 % slower (12.9 s against 8.4 s for 1 M pixels, 100 trees).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")  # onnxruntime falls back to the CPU where CUDA fails
    return ort.InferenceSession(source, options, providers=providers)


PICKLE_EXTENSIONS = (".pkl", ".pickle", ".joblib", ".sav", ".pck", ".p")


def open_session(path, parameter="MODEL", hint="", threads=None):
    """session_for(path, threads), or an error naming the parameter when the file is missing, a pickle (refused
    unread: unpickling can run code) or not readable by onnxruntime."""
    if path and os.path.isdir(path):
        raise InputError(parameter, f"'{path}' is a folder, not a model file; give the .onnx file itself."
                                    f"{hint and ' ' + hint}")
    if not path or not os.path.isfile(path):
        raise InputError(parameter, f"'{path}' does not exist.{hint and ' ' + hint}")
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as e:
        raise InputError(parameter, f"'{os.path.basename(path)}' cannot be read ({e.strerror}).") from None
    if os.path.splitext(path)[1].lower() in PICKLE_EXTENSIONS or (len(head) > 1 and head[0] == 0x80
                                                                   and 2 <= head[1] <= 5):
        raise InputError(parameter, f"'{os.path.basename(path)}' is a Python pickle. Prospectra never opens pickles, "
                                    f"because opening one can run any code hidden in it.{hint and ' ' + hint}")
    require("Running ONNX models", "onnxruntime")
    try:
        return session_for(path, threads)
    except Exception as e:  # onnxruntime raises its own types for corrupt or foreign files
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise InputError(parameter, f"'{os.path.basename(path)}' is not a readable ONNX model ({first})."
                                    f"{hint and ' ' + hint}") from None


BATCH_ROWS = 65_536  # rows per onnxruntime call


def predict_rows(predict, x, batch=BATCH_ROWS):
    """predict (one batch -> an array or a tuple of arrays, row-aligned) over all rows of x, batches side by side
    on every core, outputs joined in row order. With one onnxruntime thread per batch this used the 2 cores
    better than one batch at a time on two threads (tagging: 3.0 against 4.0-4.5 CPU seconds; Random Forest:
    see bench/bench_rf_predict.py)."""
    starts = range(0, len(x), batch)
    with ThreadPoolExecutor(min(os.cpu_count() or 1, len(starts)) or 1) as pool:
        parts = list(pool.map(lambda i: predict(x[i:i + batch]), starts))
    if not parts:
        return predict(x)
    if isinstance(parts[0], (tuple, list)):
        return tuple(np.concatenate(p) for p in zip(*parts))
    return np.concatenate(parts)


# A bundled model's file name starts with its task, so that dialogs list them without onnxruntime.
TASK_PREFIXES = {"tagging": "tagger_", "regression": "inversion_"}


def bundled_models(task=None):
    """{name: path} of the ONNX files shipped in models/; of one task only if given."""
    if not os.path.isdir(MODEL_DIR):
        return {}
    prefix = TASK_PREFIXES[task] if task else ""
    return {os.path.splitext(f)[0]: os.path.join(MODEL_DIR, f) for f in sorted(os.listdir(MODEL_DIR))
            if f.endswith(".onnx") and f.startswith(prefix)}


def bundled_model_for(sensor, task="tagging"):
    """The bundled model of that task whose sensor family matches, or None."""
    for path in bundled_models(task).values():
        meta = read_metadata(path)
        model_sensor = sensors().get(meta.get("sensor"))
        if meta.get("task") == task and model_sensor is not None and model_sensor.family == sensor.family:
            return path
    return None


def bundled_choice(choice, sensor, task):
    """The path picked in a list of [automatic] + bundled_models(task): 0 is the one for the sensor (None if none)."""
    return list(bundled_models(task).values())[choice - 1] if choice else bundled_model_for(sensor, task)


def read_metadata(path, parameter="MODEL"):
    return dict(open_session(path, parameter).get_modelmeta().custom_metadata_map)


RESERVED_NAMES = {"tags", "top", "fid"}  # the patch grid's own fields
MAX_CLASSES = 254  # a byte class raster: 0 for none and 255 for nodata kept free
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _check_classes(name, task, classes, colours, parameter):
    """Classes a class raster and a patch grid can hold, and colours a colour table takes. (How many values the
    model gives is checked on its outputs: converters declare output shapes wrongly, e.g. skl2onnx's PLS.)"""
    if task == "regression":
        return
    if not all(isinstance(c, str) and c.strip() for c in classes):
        raise InputError(parameter, f"'{name}' has malformed Prospectra metadata: every class needs a name (text).")
    folded = [c.strip().lower() for c in classes]
    bad = sorted({c for c in classes if folded.count(c.strip().lower()) > 1 or "," in c
                  or c.strip().lower() in RESERVED_NAMES})
    if bad:
        raise InputError(parameter, f"'{name}' has malformed Prospectra metadata: class names must differ (ignoring "
                                    f"case), hold no comma and not be {', '.join(sorted(RESERVED_NAMES))}; found "
                                    f"{', '.join(repr(c) for c in bad)}.")
    if len(classes) > MAX_CLASSES:
        raise InputError(parameter, f"'{name}' names {len(classes)} classes; a class raster holds at most "
                                    f"{MAX_CLASSES}.")
    if not all(isinstance(c, str) and COLOUR.match(c) for c in colours):
        raise InputError(parameter, f"'{name}' has malformed Prospectra metadata: colours must be '#rrggbb' "
                                    f"strings.")


def load_model(path, parameter="MODEL", bands=None, patch_size=None, declarable=True):
    """Read and check a model's metadata; bands and patch_size declare what a foreign model lacks (where the
    algorithm has MODEL_BANDS and MODEL_PATCH_SIZE: declarable)."""
    meta = read_metadata(path, parameter)
    session = session_for(path)
    inputs = session.get_inputs()
    shape = inputs[0].shape
    if len(inputs) != 1 or len(shape) != 4:
        raise InputError(parameter, f"'{os.path.basename(path)}' takes {len(inputs)} input(s) of shape {shape}; "
                                    f"Prospectra feeds one tensor [batch, bands, patch, patch] (rank 4).")
    declared = False
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        if not (bands or patch_size):
            raise InputError(parameter, f"'{os.path.basename(path)}' lacks Prospectra metadata ({', '.join(missing)}; "
                                        f"see models/MODEL_SPEC.md). " +
                                        ("Declare its input instead: MODEL_BANDS (band names in input order) and "
                                         "MODEL_PATCH_SIZE." if declarable else
                                         "Give a model written by 'Train content inversion model'."))
        if not bands:
            raise InputError("MODEL_BANDS", f"'{os.path.basename(path)}' lacks Prospectra metadata: name its input "
                                            f"bands in order, comma separated.")
        if not patch_size or patch_size < 1:
            raise InputError("MODEL_PATCH_SIZE", f"'{os.path.basename(path)}' lacks Prospectra metadata: give its "
                                                 f"patch size in pixels (at least 1).")
        twice = repeated(bands)
        if twice:
            raise InputError("MODEL_BANDS", f"{', '.join(twice)} is listed more than once; a model takes each band "
                                            f"once.")
        n_out = session.get_outputs()[0].shape[-1]
        meta = {"task": "tagging", "sensor": "", "bands": ",".join(bands), "patch_size": str(patch_size),
                "classes": json.dumps([f"class {i + 1}" for i in range(n_out if isinstance(n_out, int) else 1)])}
        declared = True
    try:
        task = meta["task"]
        if task not in TASKS:
            raise ValueError(f"task '{task}' is not one of {', '.join(TASKS)}")
        model_bands = [b.strip() for b in meta["bands"].split(",") if b.strip()]
        if repeated(model_bands):  # the image's band would be fed where another belongs
            raise ValueError(f"its bands list {', '.join(repeated(model_bands))} more than once")
        patch = int(meta["patch_size"])
        stride = int(meta.get("stride") or max(1, patch // 2))
        classes = json.loads(meta.get("classes", "[]"))
        norm = json.loads(meta["normalisation"]) if meta.get("normalisation") else None
        mean = np.asarray(norm["mean"], np.float32) if norm else None
        std = np.asarray(norm["std"], np.float32) if norm else None
        colours = json.loads(meta.get("colours", "[]"))
        threshold = float(meta.get("threshold", 0.5))
        if not isinstance(classes, list) or not isinstance(colours, list) or not 0 <= threshold <= 1:
            raise ValueError("classes and colours must be JSON lists and the threshold a number from 0 to 1")
        target_range = tuple(float(v) for v in json.loads(meta["target_range"])) if meta.get("target_range") else None
        if target_range is not None and not (len(target_range) == 2 and np.isfinite(target_range).all()
                                             and target_range[0] <= target_range[1]):
            raise ValueError("target_range must be a JSON list of the lowest and highest training value")
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(parameter, f"'{os.path.basename(path)}' has malformed Prospectra metadata: {e}.") from None
    for dim, expected, what in ((shape[1], len(model_bands), "bands"), (shape[2], patch, "patch size"),
                                (shape[3], patch, "patch size")):
        if isinstance(dim, int) and dim != expected:
            if declared:
                raise InputError("MODEL_BANDS" if what == "bands" else "MODEL_PATCH_SIZE",
                                 f"'{os.path.basename(path)}' takes {dim} for its {what}, not {expected}.")
            raise InputError(parameter, f"'{os.path.basename(path)}' takes {dim} for its {what} but its metadata "
                                        f"says {expected}.")
    if mean is not None and not (mean.shape == std.shape == (len(model_bands),) and np.isfinite(mean).all()
                                 and np.isfinite(std).all() and (std > 0).all()):  # NaN std: every pixel nodata
        raise InputError(parameter, f"'{os.path.basename(path)}': the normalisation needs one finite mean and one "
                                    f"positive, finite std per band ({len(model_bands)}).")
    if task != "regression" and not classes:
        raise InputError(parameter, f"'{os.path.basename(path)}' names no classes in its metadata.")
    _check_classes(os.path.basename(path), task, classes, colours, parameter)
    return OnnxModel(path, task, meta.get("sensor", ""), model_bands, patch, stride, classes, colours, threshold, mean,
                     std, meta, target_range, declared, parameter)
