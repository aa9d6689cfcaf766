"""Prospectra's engine: numpy and GDAL only, never QGIS, so it runs in plain Python too."""
