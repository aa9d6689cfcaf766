"""Errors the engine raises; the algorithms turn them into QgsProcessingException."""


class InputError(ValueError):
    """A bad input, named by the parameter the user set (e.g. 'BAND_ORDER')."""

    def __init__(self, parameter, message):
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class MissingPackage(RuntimeError):
    """An optional Python package an algorithm needs is not installed; the message says how to install it."""


class Canceled(RuntimeError):
    """The user pressed cancel; outputs in progress have been removed."""


class NullFeedback:
    """Stand-in for QgsProcessingFeedback when the engine runs outside QGIS."""

    def setProgress(self, percent):
        pass

    def isCanceled(self):
        return False

    def pushInfo(self, text):
        pass
