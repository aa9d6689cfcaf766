"""Enum and field-type names that work from QGIS 3.22 to 4.x.

QGIS 3.36 moved the Processing enums into the Qgis namespace and 3.38 made QgsField take QMetaType; the 3.22 names
are deprecated there and gone in Qt6 builds. Each name here is the new spelling where it exists, else the 3.22 one."""
from qgis.core import (Qgis, QgsColorRampShader, QgsCoordinateReferenceSystem, QgsFeatureSink, QgsField,
                       QgsProcessing, QgsProcessingParameterDefinition, QgsProcessingParameterField,
                       QgsProcessingParameterFile, QgsProcessingParameterNumber, QgsRasterMinMaxOrigin, QgsWkbTypes)
from qgis.PyQt.QtCore import QMetaType, QVariant

if hasattr(Qgis, "ProcessingSourceType"):  # 3.36+
    RASTER = Qgis.ProcessingSourceType.Raster
    POINTS = Qgis.ProcessingSourceType.VectorPoint
    POLYGONS = Qgis.ProcessingSourceType.VectorPolygon
    DOUBLE = Qgis.ProcessingNumberParameterType.Double
    INTEGER = Qgis.ProcessingNumberParameterType.Integer
    ADVANCED, OPTIONAL, HIDDEN = (Qgis.ProcessingParameterFlag.Advanced, Qgis.ProcessingParameterFlag.Optional,
                                  Qgis.ProcessingParameterFlag.Hidden)
    NUMERIC_FIELD, ANY_FIELD = Qgis.ProcessingFieldParameterDataType.Numeric, Qgis.ProcessingFieldParameterDataType.Any
    FILE_BEHAVIOR = Qgis.ProcessingFileParameterBehavior.File
else:
    RASTER, POINTS, POLYGONS = QgsProcessing.TypeRaster, QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon
    DOUBLE, INTEGER = QgsProcessingParameterNumber.Double, QgsProcessingParameterNumber.Integer
    ADVANCED, OPTIONAL, HIDDEN = (QgsProcessingParameterDefinition.FlagAdvanced,
                                  QgsProcessingParameterDefinition.FlagOptional, QgsProcessingParameterDefinition.FlagHidden)
    NUMERIC_FIELD, ANY_FIELD = QgsProcessingParameterField.Numeric, QgsProcessingParameterField.Any
    FILE_BEHAVIOR = QgsProcessingParameterFile.File  # a file parameter that takes a file, not a folder

LINE_GEOMETRY, POLYGON_GEOMETRY = ((Qgis.GeometryType.Line, Qgis.GeometryType.Polygon) if hasattr(Qgis, "GeometryType")
                                   else (QgsWkbTypes.LineGeometry, QgsWkbTypes.PolygonGeometry))  # 3.30+
POLYGON_WKB = Qgis.WkbType.Polygon if hasattr(Qgis, "WkbType") else QgsWkbTypes.Polygon  # 3.30+
FAST_INSERT = QgsFeatureSink.Flag.FastInsert
# WKT for GDAL (3.36+), colour ramp interpolation and classification (3.30+), min/max by cumulative cut (3.42+).
WKT_GDAL = (Qgis.CrsWktVariant.PreferredGdal if hasattr(Qgis, "CrsWktVariant")
            else QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL)
if hasattr(Qgis, "ShaderInterpolationMethod"):
    RAMP_LINEAR, RAMP_CONTINUOUS = Qgis.ShaderInterpolationMethod.Linear, Qgis.ShaderClassificationMethod.Continuous
else:
    RAMP_LINEAR, RAMP_CONTINUOUS = QgsColorRampShader.Interpolated, QgsColorRampShader.Continuous
CUMULATIVE_CUT = (Qgis.RasterRangeLimit.CumulativeCut if hasattr(Qgis, "RasterRangeLimit")
                  else QgsRasterMinMaxOrigin.CumulativeCut)

if Qgis.QGIS_VERSION_INT >= 33800:
    FIELD_TYPES = {"string": QMetaType.Type.QString, "double": QMetaType.Type.Double, "int": QMetaType.Type.Int}
else:
    FIELD_TYPES = {"string": QVariant.String, "double": QVariant.Double, "int": QVariant.Int}


def field(name, kind):
    """A QgsField of kind 'string', 'double' or 'int'."""
    return QgsField(name, FIELD_TYPES[kind])
