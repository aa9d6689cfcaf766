"""Every colour Prospectra paints with, in one place: ramps for continuous rasters and palettes for classes.
The engine writes class colours into the GeoTIFF itself (a GDAL colour table), the algorithms into the .qml."""
from ..spectral.spectral_library import usgs_selection

# Red (low) to green (high) for probabilities and confidence (ColorBrewer 'RdYlGn').
PROBABILITY_RAMP = ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"]
# Diverging blue-yellow-red ramp (ColorBrewer 'Spectral', reversed: high ratios red).
RATIO_RAMP = ["#2b83ba", "#abdda4", "#ffffbf", "#fdae61", "#d7191c"]
# Distinct colours for named minerals (Kelly's 22 colours of maximum contrast, without white and black).
MINERAL_COLOURS = ["#f3c300", "#875692", "#f38400", "#a1caf1", "#be0032", "#c2b280", "#848482", "#008856", "#e68fac",
                   "#0067a5", "#f99379", "#604e97", "#f6a600", "#b3446c", "#dcd300", "#882d17", "#8db600", "#654522",
                   "#e25822", "#2b3d26"]
# Qualitative colours for lithology classes (ColorBrewer 'Set1' then 'Dark2', Brewer 2002), cycled.
LITHOLOGY_COLOURS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#ffff33", "#a65628", "#f781bf",
                     "#999999", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"]
UNCLASSIFIED_COLOUR = "#d0d0d0"


def lithology_colours(n):
    return [LITHOLOGY_COLOURS[i % len(LITHOLOGY_COLOURS)] for i in range(n)]


def _rgb(colour):
    return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]


def mineral_colours(names):
    """Paper 001's colours for its minerals; distinct colours, none close to one already used, for the rest.
    A group ('Alunite / Kaolinite') takes the colour of its first mineral when that one is known."""
    known = {e["name"].lower(): e["colour"] for e in usgs_selection()["paper001_endmembers"]}
    out = [known.get(n.lower(), known.get(n.split(" / ")[0].lower())) for n in names]

    def far_from_used(colour):
        return all(sum((a - b) ** 2 for a, b in zip(_rgb(colour), _rgb(u))) > 80 ** 2 for u in filter(None, out))

    for i, colour in enumerate(out):
        if colour is None:
            out[i] = next((c for c in MINERAL_COLOURS if far_from_used(c)), MINERAL_COLOURS[i % len(MINERAL_COLOURS)])
    return out

