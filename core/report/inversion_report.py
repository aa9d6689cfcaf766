"""HTML report (with JSON beside it) of an inversion fit: every model's R2, RMSE and RPD on the training and
held-out parts, cross-validation, the chosen model, and predicted-vs-measured plots (Cheng et al. 2023, Fig. 9)."""
import numpy as np

from ..io.outputs import write_file
from .geochem_report import NO_PLOT, esc, figure, fmt, json_path, page, png, table, write_json
from ..learning.band_matrix_cnn import AS_BUILT, DEVIATIONS
from ..geochem.inversion import rating

REFERENCES = [
    "Cheng G. et al. (2023). Research on quantitative inversion of ion adsorption type rare earth ore based on "
    "convolutional neural network. Frontiers in Earth Science, doi:10.3389/feart.2022.1086325 (surface-to-surface "
    "sample set, 2:1 split, the CNN, R2 / RMSE / RPD, R2 >= 0.9 and RPD >= 3 'excellent').",
    "Williams P.C. (1987). Variables affecting near-infrared reflectance spectroscopic analysis. In: Near-Infrared "
    "Technology in the Agricultural and Food Industries, AACC (RPD = SD / RMSE).",
    "Roberts D.R. et al. (2017). Cross-validation strategies for data with temporal, spatial, hierarchical, or "
    "phylogenetic structure. Ecography 40, 913-929 (why the split and the folds should be spatial blocks).",
    "Pedregosa F. et al. (2011). Scikit-learn: machine learning in Python. JMLR 12, 2825-2830.",
]


def _scatter(fits, y_train, y_test, target):
    plt = figure()
    if plt is None:
        return NO_PLOT
    n = len(fits)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    lo = float(min(np.min(y_train), np.min(y_test)))
    hi = float(max(np.max(y_train), np.max(y_test)))
    for ax, f in zip(axes[0], fits):
        ax.scatter(y_train, f.predicted_train, s=3, alpha=0.3, color="#999999", label="training")
        ax.scatter(y_test, f.predicted_test, s=3, alpha=0.5, color="#d7191c", label="held out")
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(f"{f.key}: R2 {f.test['r2']:.2f}, RPD {f.test['rpd']:.1f}", fontsize=8)
        ax.set_xlabel(f"measured {target}", fontsize=8)
        ax.set_ylabel(f"predicted {target}", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return png(fig, "predicted against measured")


def write_inversion_report(path, fits, chosen, info, split, folds, target, unit, y, test, notes):
    """folds: what the cross-validation folds were made of (as the split: whole spatial blocks or random samples)."""
    rows = []
    for f in fits:
        mark = " (chosen)" if f is chosen else ""
        rows.append([esc(f.name + mark), fmt(f.cv_rmse), fmt(f.train["r2"]), fmt(f.train["rmse"]), fmt(f.train["rpd"]),
                     fmt(f.test["r2"]), fmt(f.test["rmse"]), fmt(f.test["rpd"]), esc(rating(f.test))])
    header = ["model", "CV RMSE (training part)", "R2 train", "RMSE train", "RPD train", "R2 held out",
              "RMSE held out", "RPD held out", "rating (held out)"]
    body = (f"<p>Target: <b>{esc(target)}</b> ({esc(unit)}). Sample set: {esc(info['method'])}, {len(y)} "
            f"rows ({int((~test).sum())} training, {int(test.sum())} held out; {esc(split)}). Held-out samples, "
            f"as measured: mean {fmt(float(np.mean(y[test])))}, SD {fmt(float(np.std(y[test], ddof=1)))}.</p>"
            + ("<p>The training rows are pixels of a surface kriged from the training samples alone, none within "
               f"{fmt(info['reach'])} (the surface's reach, in the image's CRS units) of a held-out sample; each "
               "held-out sample is judged by its own pixel and its measured value, so the held-out figures are on "
               "measurements the model never saw, kriging error included. The cross-validation folds are made of "
               "training samples too: each pixel goes with the training sample nearest to it.</p>"
               if "reach" in info else "")
            + "".join(f"<p class=note>{esc(n)}</p>" for n in notes)
            + "<h2>Models</h2>" + table(header, rows)
            + (f"<p>Chosen: <b>{esc(chosen.name)}</b>, the lowest cross-validated RMSE on the training part (up to 5 "
               f"folds of " if np.isfinite(chosen.cv_rmse) else
               f"<p>Chosen: <b>{esc(chosen.name)}</b>, the first model fitted: the training part is one block, so no "
               f"cross-validation could choose (folds of ")
            + f"{esc(folds)}); the held-out part played no role in the choice. RPD = SD of the held-out measured values "
              f"/ RMSE; Cheng et al. (2023) call R2 >= 0.9 with RPD >= 3 excellent (here also: RPD >= 2 good, >= 1.4 "
              f"fair, below poor).</p>"
            + ("<h2>The CNN as built</h2>" + f"<p>{esc(AS_BUILT)}</p><p>{esc(DEVIATIONS)}</p>"
               if any(f.key == "cnn" for f in fits) else "")
            + "<h2>Predicted against measured</h2>" + _scatter(fits, y[~test], y[test], target)
            + "<h2>Sample set</h2>" + table(["item", "value"], [[esc(k), esc(v)] for k, v in info.items()])
            + "<h2>References</h2><ul>" + "".join(f"<li>{esc(r)}</li>" for r in REFERENCES) + "</ul>")
    write_file(path, page(f"Inversion of {target}", body))
    write_json(json_path(path), {"target": target, "unit": unit, "split": split, "sample_set": info, "notes": notes,
                                 "chosen": chosen.key, "models": [{"key": f.key, "name": f.name, "cv_rmse": f.cv_rmse,
                                                                   "train": f.train, "test": f.test,
                                                                   "rating": rating(f.test)} for f in fits]})
