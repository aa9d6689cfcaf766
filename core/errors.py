"""Errors the engine raises; the algorithms turn them into QgsProcessingException."""
import importlib


class ProspectraError(Exception):
    """The engine's own errors, not Python's: the algorithm base turns each into one message for the user, and
    engine code never mistakes a bug (a ValueError, a RuntimeError) for one of them or the other way round."""


class InputError(ProspectraError):
    """A bad input, named by the parameter the user set (e.g. 'BAND_ORDER')."""

    def __init__(self, parameter, message):
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


def repeated(items):
    """The items listed more than once, sorted: what an input check names when each must be given once."""
    return sorted({i for i in items if items.count(i) > 1})


class MissingPackage(ProspectraError):
    """An optional Python package an algorithm needs is not installed; the message says how to install it."""


class Canceled(ProspectraError):
    """The run was cancelled (the Cancel button, or SIGTERM); outputs in progress have been removed."""


class NullFeedback:
    """Stand-in for QgsProcessingFeedback when the engine runs outside QGIS."""

    def setProgress(self, percent):
        pass

    def isCanceled(self):
        return False

    def pushInfo(self, text):
        pass

    def pushWarning(self, text):
        pass


# The module an algorithm imports -> the name pip installs it by.
PIP_NAMES = {"sklearn": "scikit-learn", "skl2onnx": "skl2onnx", "onnx": "onnx", "onnxruntime": "onnxruntime",
             "pykrige": "pykrige", "scipy": "scipy", "matplotlib": "matplotlib",
             "pystac_client": "pystac-client", "numba": "numba"}


def install_commands(pip_names):
    """The command that installs the packages into the Python QGIS runs, per platform. numpy is pinned to the
    version QGIS runs because pip would otherwise upgrade it, and QGIS's GDAL breaks on a numpy it was not built
    with."""
    import numpy

    packages = " ".join(list(pip_names) + [f"numpy=={numpy.__version__}"])
    return (f"  Debian/Ubuntu: python3 -m pip install --user --break-system-packages {packages}\n"
            f"    (pip older than 23 does not know --break-system-packages: leave it out)\n"
            f"  Windows: in the OSGeo4W Shell (Start menu, QGIS folder): python -m pip install --user {packages}\n"
            f"  macOS: /Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip install --user {packages}\n"
            f"    (QGIS-LTR.app for the long-term release)\n"
            "then restart QGIS.")


def require(purpose, *modules):
    """Import the modules, or raise MissingPackage naming every missing one with the command that installs them."""
    missing = []
    for module in modules:
        try:
            # The top package first: a submodule already in sys.modules would hide a package made unimportable.
            importlib.import_module(module.split(".")[0])
            importlib.import_module(module)
        except ImportError:
            top = module.split(".")[0]
            missing.append(PIP_NAMES.get(top, top))
    if missing:
        plural = len(missing) > 1
        raise MissingPackage(
            f"{purpose} needs the Python package{'s' if plural else ''} {', '.join(missing)}, which "
            f"{'are' if plural else 'is'} not installed in the Python that QGIS uses. Install "
            f"{'them' if plural else 'it'} with:\n{install_commands(missing)}")
