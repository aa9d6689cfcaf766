"""Reading feature layers for the algorithms: points with a field's values, and the file paths of inputs (so
that no output overwrites one). Shared helpers, not an algorithm."""
from qgis.core import NULL, QgsCoordinateTransform, QgsCsException, QgsFeatureRequest

from ..core.errors import InputError
from .compat import FIELD_TYPES


def read_points(source, field, crs, context, points_parameter="INPUT", field_parameter="FIELD"):
    """x, y (in crs) and the field's value of every point (each vertex of multipoints), and how many features
    had no usable geometry. A text field is refused here, where its type is known."""
    if source is None:
        raise InputError(points_parameter, "choose a point layer.")
    if not field:
        raise InputError(field_parameter, "choose the numeric field that holds the measured values.")
    fields = source.fields()
    index = fields.lookupField(field)
    if index < 0:
        raise InputError(field_parameter, f"the point layer has no field '{field}'.")
    if not fields.at(index).isNumeric():
        # Decimal fields first: measurements are usually decimals, identifiers integers.
        numeric = sorted((f for f in fields if f.isNumeric() and f.name().lower() != "fid"),
                         key=lambda f: f.type() != FIELD_TYPES["double"])
        numeric = [f.name() for f in numeric]
        raise InputError(field_parameter, f"'{field}' is a {fields.at(index).typeName()} field, not numbers; choose "
                                          f"a numeric field" + (f" (this layer has e.g. {', '.join(numeric[:5])})"
                                                                if numeric else "") + ".")
    transform = QgsCoordinateTransform(source.sourceCrs(), crs, context.transformContext())
    xs, ys, values, no_geometry = [], [], [], 0
    for feature in source.getFeatures(QgsFeatureRequest().setSubsetOfAttributes([index])):
        geometry = feature.geometry()
        if geometry is None or geometry.isEmpty():
            no_geometry += 1
            continue
        try:
            geometry.transform(transform)
        except QgsCsException:
            no_geometry += 1
            continue
        value = feature.attribute(index)
        value = None if value is None or value == NULL else value
        for p in geometry.vertices():
            xs.append(p.x())
            ys.append(p.y())
            values.append(value)
    return xs, ys, values, no_geometry


def input_paths(*inputs):
    """File paths of the inputs (a path, or a layer's source without its '|layername=' part), so that no output
    overwrites one."""
    out = []
    for item in inputs:
        source = getattr(item, "source", None)  # a layer's source(), or a feature source definition's property
        if isinstance(item, str):
            path = item
        elif callable(source):
            path = source()
        elif hasattr(source, "staticValue"):
            path = str(source.staticValue() or "")
        else:
            path = None
        if path:
            out.append(path.split("|")[0])
    return out
