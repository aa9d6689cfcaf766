"""Reading feature layers for the algorithms, one way: QGIS transforms the geometries into the image's (or
grid's) CRS through the feature request itself, and features it cannot transform come back without a geometry
and are counted. Also the file paths of inputs, so that no output overwrites one. Shared helpers, not an
algorithm."""

from qgis.core import (NULL, QgsCoordinateReferenceSystem, QgsFeatureRequest, QgsMapLayer,
                       QgsProcessingFeatureSourceDefinition, QgsProcessingUtils, QgsProperty, QgsProviderRegistry,
                       QgsWkbTypes)
from qgis.PyQt.QtCore import QDate, QDateTime, QTime, QVariant

from ..core.errors import InputError
from .compat import FIELD_TYPES, LINE_GEOMETRY, POLYGON_GEOMETRY
from .parameters import is_file


def request_in(source, crs, context, attributes=None):
    """A request for source's features with their geometries in crs (None: as stored). A feature QGIS cannot
    transform (outside the area the CRS covers) comes back without geometry, like one that has none. (A transform
    error callback would tell them apart, but a Python one crashes QGIS 3.22 when it fires.)"""
    request = QgsFeatureRequest()
    if attributes is not None:
        request.setSubsetOfAttributes(attributes)
    if crs is not None and crs.isValid() and source.sourceCrs() != crs:
        request.setDestinationCrs(crs, context.transformContext())
    return request


def has_crs(source):
    """Whether a layer has a coordinate reference system: GeoPackage's own 'Undefined geographic/cartesian SRS'
    (srs_id 0 and -1), what a layer without one gets there, counts as none."""
    crs = source.sourceCrs()
    return crs.isValid() and not (not crs.authid() and "undefined" in crs.description().lower())


def require_geometries(source, parameter):
    """An error unless some feature of the layer has a geometry: without any, its coordinate system (which QGIS
    may then not know) is not the problem to report."""
    for feature in source.getFeatures(QgsFeatureRequest().setNoAttributes()):
        geometry = feature.geometry()
        if geometry is not None and not geometry.isEmpty():
            return
    count = source.featureCount()
    raise InputError(parameter, f"none of the layer's {f'{count} ' if count >= 0 else ''}features has a geometry; "
                                f"give points or polygons with their locations.")


def image_crs(source, image, parameter, feedback, image_parameter="INPUT"):
    """The CRS to read a layer's sites in to put them on the image (None: take their coordinates as they are). When
    neither has a coordinate system, as for an ungeoreferenced scene, the layer is taken to be drawn on the
    image's own pixel grid; when only one has, the error names which."""
    require_geometries(source, parameter)
    target = QgsCoordinateReferenceSystem.fromWkt(image.projection) if image.projection else None
    layer_ok = has_crs(source)
    image_ok = target is not None and target.isValid()
    if not image_ok and not layer_ok:
        feedback.pushInfo(f"Neither the image nor {parameter} has a coordinate system: the sites are taken on "
                          f"the image's pixel grid as they are.")
        return None
    if not layer_ok:
        raise InputError(parameter, "the layer has no coordinate reference system, so its sites cannot be "
                                    "placed on the image. Set its CRS (Layer Properties > Source, or 'Assign "
                                    "projection') and run again.")
    if not image_ok:
        raise InputError(image_parameter, f"the raster has no coordinate reference system, so the sites of "
                                          f"{parameter} cannot be placed on it. Assign one to it first.")
    return target


def field_index(source, field, parameter, layer_parameter, holds):
    """The index of the chosen field, or an error naming the field parameter (holds: what the field holds)."""
    if not field:
        raise InputError(parameter, f"choose the field that holds {holds}.")
    index = source.fields().lookupField(field)
    if index < 0:
        names = source.fields().names()
        listed = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        raise InputError(parameter, f"'{field}' is not a field of {layer_parameter} (its fields: {listed or 'none'}); "
                                    f"choose the field that holds {holds}.")
    return index


def labelled_features(source, field, image, context, feedback, layer_parameter, image_parameter="INPUT"):
    """[(WKB in the image's CRS or None, class label)] of the point or polygon layer's features: the sites
    extract_samples reads. A feature QGIS could not transform comes without a geometry (counted there)."""
    if source is None:
        raise InputError(layer_parameter, "no layer given; choose a point or polygon layer.")
    if source.featureCount() == 0:
        raise InputError(layer_parameter, "the layer has no features.")
    index = field_index(source, field, "FIELD", layer_parameter, "each site's class")
    request = request_in(source, image_crs(source, image, layer_parameter, feedback, image_parameter), context, [index])
    features = []
    for feature in source.getFeatures(request):
        if feedback.isCanceled():
            break
        value = feature.attributes()[index]
        label = None if value is None or isinstance(value, QVariant) else value
        if isinstance(label, (QDate, QDateTime, QTime)):  # a date class field: its ISO text, not a Qt repr
            label = None if label.isNull() else \
                (label.toPyDate() if isinstance(label, QDate) else label.toPyDateTime()
                 if isinstance(label, QDateTime) else label.toPyTime()).isoformat()
        geometry = feature.geometry()
        features.append((bytes(geometry.asWkb()) if geometry is not None and not geometry.isEmpty() else None, label))
    return features


def require_point_layer(source, parameter):
    """An error unless source holds points: the algorithms sample at points, and a line's or a polygon's vertices
    are not sites (qgis_process passes any vector layer)."""
    if source.featureCount() == 0:
        raise InputError(parameter, "the layer has no features.")
    if QgsWkbTypes.geometryType(source.wkbType()) in (LINE_GEOMETRY, POLYGON_GEOMETRY):  # unknown types may hold points
        raise InputError(parameter, "is not a point layer; give points (lines or polygons can be turned into "
                                    "points first, e.g. with 'Centroids').")


def read_points(source, field, crs, context, points_parameter="INPUT", field_parameter="FIELD"):
    """x, y (in crs) and the field's value of every point, and how many features had no usable geometry. A text
    field is refused here, where its type is known, and so is a multipoint of several points: its one value would
    count as that many independent samples."""
    if source is None:
        raise InputError(points_parameter, "choose a point layer.")
    require_point_layer(source, points_parameter)
    require_geometries(source, points_parameter)
    if crs is not None and crs.isValid() and source.sourceCrs() != crs and not has_crs(source):
        raise InputError(points_parameter, "the layer has no coordinate reference system, so its points cannot be "
                                           "placed. Set its CRS (Layer Properties > Source) and run again.")
    index = field_index(source, field, field_parameter, points_parameter, "the measured values")
    fields = source.fields()
    if not fields.at(index).isNumeric():
        # Decimal fields first: measurements are usually decimals, identifiers integers.
        numeric = sorted((f for f in fields if f.isNumeric() and f.name().lower() != "fid"),
                         key=lambda f: f.type() != FIELD_TYPES["double"])
        numeric = [f.name() for f in numeric]
        raise InputError(field_parameter, f"'{field}' is a {fields.at(index).typeName()} field, not numbers; choose "
                                          f"a numeric field" + (f" (this layer has e.g. {', '.join(numeric[:5])})"
                                                                if numeric else "") + ".")
    request = request_in(source, crs, context, [index])
    xs, ys, values, no_geometry = [], [], [], 0
    for feature in source.getFeatures(request):
        geometry = feature.geometry()
        if geometry is None or geometry.isEmpty():  # none, or none QGIS could transform
            no_geometry += 1
            continue
        points = list(geometry.vertices())
        if len(points) > 1:
            raise InputError(points_parameter, f"feature {feature.id()} is a multipoint of {len(points)} points "
                                               f"with one value: a measurement belongs to one place. Split the layer "
                                               f"(Multipart to singleparts) if each point was measured, or keep one "
                                               f"point per sample.")
        value = feature.attribute(index)
        xs.append(points[0].x())
        ys.append(points[0].y())
        values.append(None if value is None or value == NULL else value)
    return xs, ys, values, no_geometry


def input_paths(context, *inputs):
    """File paths of the inputs, so that no output overwrites one: each given as a path, a layer, a layer id or a
    provider URI (a CSV of samples as 'delimitedtext://file:///samples.csv?xField=...', a GeoPackage layer as
    'samples.gpkg|layername=...'), resolved to the file its provider reads."""
    out = []
    for item in inputs:
        if isinstance(item, QgsProcessingFeatureSourceDefinition):
            item = item.source
        if isinstance(item, QgsProperty):  # a static value, or an expression a model or script evaluates
            item = item.valueAsString(context.expressionContext())
            item = item[0] if isinstance(item, tuple) else item  # (value, ok) in the Python bindings
        if is_file(item):  # a file as it is: loaded, a raster would get statistics
            out.append(item)
            continue
        layer = item if isinstance(item, QgsMapLayer) else \
            QgsProcessingUtils.mapLayerFromString(item, context) if isinstance(item, str) and item else None
        if layer is None:
            if isinstance(item, str) and item:
                out.append(item.split("|")[0])
            continue
        path = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source()).get("path")
        out.append(path or layer.source().split("|")[0])
    return out
