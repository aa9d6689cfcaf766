"""Registers the Prospectra Processing provider; nothing else."""
from qgis.core import QgsApplication

from .algorithms.provider import ProspectraProvider


class ProspectraPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS calls this name, also from qgis_process)
        self.provider = ProspectraProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
