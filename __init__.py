def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import ProspectraPlugin

    return ProspectraPlugin(iface)
