"""Geochemistry: samples, Kriging, band correlation, content inversion and prediction."""
