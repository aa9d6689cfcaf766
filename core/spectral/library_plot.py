"""PNG plot of spectra at full resolution and resampled to a sensor's bands."""
import os

import numpy as np

from ..errors import InputError
from ..io.outputs import staged


def check_plot_path(path, parameter="OUTPUT_PLOT"):
    """Refuse, before any work, a plot path whose extension matplotlib cannot write."""
    from matplotlib.backend_bases import FigureCanvasBase

    extension = os.path.splitext(path)[1].lower().lstrip(".")
    formats = FigureCanvasBase.get_supported_filetypes()
    if extension not in formats:
        raise InputError(parameter, f"'{os.path.basename(path)}' is no image format matplotlib writes; end the name "
                                    f"in .png (or .{', .'.join(sorted(f for f in formats if f != 'png'))}).")


def plot_resampled(library, sensor, band_names, matrix, path, title):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    centres = np.array([sensor.band(b).centre_nm for b in band_names])
    order = np.argsort(centres)
    colours = plt.get_cmap("tab20").colors
    for i, (s, row) in enumerate(zip(library.spectra, matrix)):
        c = colours[i % len(colours)]
        if s.wavelengths is not None:
            ax.plot(s.wavelengths, s.values, color=c, lw=0.8, alpha=0.6)
        ax.plot(centres[order], row[order], "o-", color=c, lw=1.6, ms=4, label=s.name)
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("reflectance")
    ax.set_title(title)
    ax.set_xlim(350, 2550)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.text(0.01, 0.01, f"thin lines: full resolution; dots: {sensor.name} bands ({', '.join(band_names)})",
             fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    try:
        with staged(path) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
