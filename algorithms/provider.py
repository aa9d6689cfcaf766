from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .assess_accuracy import AssessAccuracy
from .band_composite import BandComposite
from .band_correlation import BandCorrelation
from .band_ratio import BandRatio
from .classify_random_forest import ClassifyRandomForest
from .cluster_setting import add_setting, remove_setting
from .kriging import Kriging
from .load_scene import LoadScene
from .predict_content import PredictContent
from .provider_icon import ICON
from .resample_library import ResampleLibrary
from .spectral_angle_mapper import SpectralAngleMapper
from .tag_minerals import TagMinerals
from .train_inversion import TrainInversion
from .train_random_forest import TrainRandomForest


class ProspectraProvider(QgsProcessingProvider):
    def id(self):
        return "prospectra"

    def name(self):
        return "Prospectra"

    def longName(self):  # noqa: N802
        return "Prospectra: mineral exploration from multispectral imagery"

    def icon(self):
        return QIcon(ICON)

    def svgIconPath(self):  # noqa: N802
        return ICON

    def load(self):
        add_setting(self.name())
        return super().load()

    def unload(self):
        remove_setting()

    def loadAlgorithms(self):  # noqa: N802
        for alg in (LoadScene(), BandComposite(), BandRatio(), ResampleLibrary(), SpectralAngleMapper(), TagMinerals(),
                    TrainRandomForest(), ClassifyRandomForest(), AssessAccuracy(), Kriging(), BandCorrelation(), TrainInversion(),
                    PredictContent()):
            self.addAlgorithm(alg)
