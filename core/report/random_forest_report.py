"""The training report of a Random Forest: one dict, written as JSON (for scripts) and as HTML with PNG
figures (for people): confusion matrix in counts and row percentages as in paper 000's Figure 9, overall
accuracy, Cohen's kappa, per-class precision / recall / F1, the search and its winner, permutation importance,
sample counts and what was skipped."""
import datetime
import html
import json
import os

import numpy as np

from ..io.outputs import staged, write_file
from .geochem_report import jsonable

REFERENCES = [
    "Rakhymberdina M. et al. (2025). Remote sensing technologies in the search for rare metal deposits in Eastern "
    "Kazakhstan. ISPRS Archives (Random Forest on 12 Sentinel-2 bands, confusion matrix of Figure 9).",
    "Breiman L. (2001). Random Forests. Machine Learning 45, 5-32 (the classifier; permutation importance).",
    "Roberts D.R. et al. (2017). Cross-validation strategies for data with temporal, spatial, hierarchical, or "
    "phylogenetic structure. Ecography 40, 913-929 (spatially blocked folds).",
    "Cohen J. (1960). A coefficient of agreement for nominal scales. Educational and Psychological Measurement 20, "
    "37-46 (kappa).",
]
SKIPPED = {
    "no_class": "features without a class value",
    "no_geometry": "features without a geometry (or whose CRS transform failed)",
    "outside": "features entirely outside the image",
    "points_outside": "points outside the image (of multipoint features too)",
    "no_pixel_centre": "polygons too small to contain a pixel centre",
    "on_nodata": "features whose every pixel is nodata",
    "pixels_nodata": "training pixels skipped on nodata",
    "pixels_in_several_features": "pixels inside more than one feature (kept once per feature)",
}


def build(samples, folds, params, table, searched, space, iterations, metrics, balancing, balancing_label, scoring,
          seed, agreement, notes, model_path, metadata, description, nodes):
    classes = samples.classes
    per_class = []
    for v, n in zip(classes.values, classes.names):
        sel = samples.y == v
        per_class.append({"value": v, "name": n, "samples": int(sel.sum()),
                          "features": int(len(np.unique(samples.feature[sel])))})
    best = max(table, key=lambda r: r["mean"])
    return jsonable({
        "prospectra_version": metadata["prospectra_version"],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "inputs": {**description, "sensor": metadata["sensor_name"], "features": samples.feature_names,
                   "scaling": metadata["scaling"], "geometry": samples.geometry},
        "model": {"file": os.path.basename(model_path), "format": "ONNX (ai.onnx.ml tree ensembles), metadata in metadata_props",
                  "trees": params["n_estimators"], "nodes": nodes, "hyperparameters": params,
                  "class_weight": balancing, "class_balancing": balancing_label, "seed": seed},
        "classes": per_class,
        "samples": {"used": len(samples), **samples.counts},
        "validation": {"method": folds.validation, "description": folds.description, "folds": len(folds.splits),
                       "block_pixels": folds.block_pixels,
                       "blocks": int(len(np.unique(folds.groups))) if folds.groups is not None else None,
                       "test_samples_per_fold": [int(len(te)) for _, te in folds.splits]},
        "search": {"method": "randomised search (same candidates as scikit-learn RandomizedSearchCV)",
                   "scoring": scoring, "iterations": len(table), "requested_iterations": iterations,
                   "space": space, "rows_searched": searched, "best": params, "best_score": best["mean"],
                   "candidates": table},
        "accuracy": {"overall_accuracy": metrics["overall_accuracy"], "kappa": metrics["kappa"],
                     "balanced_accuracy": metrics["balanced_accuracy"],
                     "confusion_matrix": {"labels": classes.names, "values": classes.values,
                                          "counts": metrics["confusion_matrix"],
                                          "row_percent": metrics["confusion_matrix_row_percent"],
                                          "rows": "true class", "columns": "predicted class"},
                     "per_class": metrics["per_class"],
                     "note": "out-of-fold predictions of the chosen hyperparameters on the folds they were chosen "
                             "on (not nested): slightly optimistic."},
        "permutation_importance": {"scoring": scoring, "repeats": 5, "on": "held-out folds",
                                   "features": metrics["permutation_importance"]},
        "onnx_check": agreement,
        "notes": notes,
        "references": REFERENCES,
    })


def _confusion_png(report, path):
    from matplotlib.figure import Figure

    cm = report["accuracy"]["confusion_matrix"]
    counts, pct, names = np.array(cm["counts"]), np.array(cm["row_percent"]), cm["labels"]
    k = len(names)
    # Under 0.9 inch a class once there are over 20: 120 classes drew a 12100 x 10780-pixel figure and took 5.9 GB.
    # The report's table holds every count; the figure shows the pattern.
    cell = min(0.9, 18.0 / k)
    fig = Figure(figsize=(2.2 + cell * k, 1.8 + 0.9 * cell * k), dpi=110)
    ax = fig.add_subplot()
    im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{pct[i, j]:.1f} %\n({counts[i, j]})", ha="center", va="center", fontsize=8,
                        color="white" if pct[i, j] > 60 else "black")
    label_size = min(10.0, max(3.0, 160.0 / k))
    ax.set_xticks(range(k))
    ax.set_xticklabels(names, rotation=30 if k <= 20 else 90, ha="right" if k <= 20 else "center", fontsize=label_size)
    ax.set_yticks(range(k))
    ax.set_yticklabels(names, fontsize=label_size)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title("Cross-validated confusion matrix\n" + ("(row %, counts in brackets)" if k <= 20 else
                                                          "(row %; the table above holds the counts)"), fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="% of the true class")
    fig.tight_layout()
    fig.savefig(path, format="png")


def _importance_png(report, path):
    from matplotlib.figure import Figure

    rows = report["permutation_importance"]["features"]
    fig = Figure(figsize=(5.5, 1.2 + 0.28 * len(rows)), dpi=110)
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    ax.barh(y, [r["mean"] for r in rows], xerr=[r["std"] for r in rows], color="#377eb8")
    ax.set_yticks(y)
    ax.set_yticklabels([r["feature"] for r in rows])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("drop in balanced accuracy when the feature is shuffled")
    ax.set_title("Permutation importance on held-out folds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")


def _table(header, rows):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(report, figures):
    e = lambda v: html.escape(str(v))  # noqa: E731
    acc, cm = report["accuracy"], report["accuracy"]["confusion_matrix"]
    names = cm["labels"]
    cm_rows = [[f"<b>{e(n)}</b>"] + [f"{c} ({p:.1f} %)" for c, p in zip(cr, pr)] + [str(sum(cr))]
               for n, cr, pr in zip(names, cm["counts"], cm["row_percent"])]
    skipped = [[e(SKIPPED[k]), report["samples"].get(k, 0)] for k in SKIPPED]
    inputs = [[e(k), e(", ".join(map(str, v)) if isinstance(v, list) else v)] for k, v in report["inputs"].items()]
    search = report["search"]
    candidates = sorted(search["candidates"], key=lambda r: -r["mean"])[:10]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Random Forest training report</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:1em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.2em .5em;text-align:right}"
        "th{background:#eee}td:first-child{text-align:left}.note{background:#fff6d6;padding:.5em}</style></head><body>",
        "<h1>Random Forest training report</h1>",
        f"<p>Prospectra {e(report['prospectra_version'])}, {e(report['created'])}. Model: <code>"
        f"{e(report['model']['file'])}</code> ({e(report['model']['format'])}).</p>",
        "<h2>Accuracy (cross-validated)</h2>",
        _table(["measure", "value"], [["overall accuracy", f"{acc['overall_accuracy']:.3f}"],
                                      ["Cohen's kappa", f"{acc['kappa']:.3f}"],
                                      ["balanced accuracy (mean recall)", f"{acc['balanced_accuracy']:.3f}"]]),
        f"<p>{e(report['validation']['description'])}. {e(acc['note'])}</p>",
        "<h3>Confusion matrix</h3><p>Rows: true class; columns: predicted class; counts with row percentages "
        "(the share of each true class given each label, as in paper 000's Figure 9).</p>",
        _table(["true \\ predicted"] + names + ["total"], cm_rows),
        f"<p><img src='{e(figures['confusion_matrix'])}' alt='confusion matrix'></p>",
        "<h3>Per class</h3>",
        _table(["class", "value", "precision", "recall", "F1", "test samples"],
               [[e(r["name"]), r["value"], f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}",
                 r["support"]] for r in acc["per_class"]]),
        "<h2>Model</h2>",
        _table(["hyperparameter", "value"], [[e(k), e(v)] for k, v in report["model"]["hyperparameters"].items()]
               + [["class balancing", e(report["model"]["class_balancing"])], ["seed", report["model"]["seed"]],
                  ["trees / nodes", f"{report['model']['trees']} / {report['model']['nodes']}"]]),
        f"<p>Chosen by a randomised search of {search['iterations']} candidates scored by {e(search['scoring'])} on "
        f"the same folds ({search['rows_searched']} samples searched); best mean score {search['best_score']:.3f}. "
        f"Search space: {e(json.dumps(search['space']))}.</p>",
        _table(["candidate", "mean score", "std"], [[e(json.dumps(r["params"])), f"{r['mean']:.3f}",
                                                     f"{r['std']:.3f}"] for r in candidates]),
        "<h2>Permutation importance</h2><p>Drop in balanced accuracy when one feature is shuffled, on held-out "
        "folds (mean &plusmn; std over folds and 5 repeats).</p>",
        _table(["feature", "importance", "std"], [[e(r["feature"]), f"{r['mean']:.4f}", f"{r['std']:.4f}"]
                                                  for r in report["permutation_importance"]["features"]]),
        f"<p><img src='{e(figures['importance'])}' alt='permutation importance'></p>",
        "<h2>Training data</h2>",
        _table(["class", "value", "features", "pixels (samples)"],
               [[e(c["name"]), c["value"], c["features"], c["samples"]] for c in report["classes"]]),
        f"<p>{report['samples']['used']} samples from {report['samples'].get('features_used', '?')} of "
        f"{report['samples']['features']} features. Skipped:</p>",
        _table(["what", "count"], skipped),
        _table(["input", "value"], inputs),
        "<h2>ONNX check</h2>",
        f"<p>onnxruntime's labels equal scikit-learn's on {report['onnx_check']['agree']} of "
        f"{report['onnx_check']['rows']} pixels ({report['onnx_check']['training_rows']} training samples and "
        f"{report['onnx_check']['image_rows']} pixels of random 32 x 32 px windows of the image): rate "
        f"{report['onnx_check']['rate']:.6f}; largest probability difference "
        f"{report['onnx_check']['max_probability_difference']:.2e}.</p>",
    ]
    if report["notes"]:
        parts.append("<h2>Notes</h2>" + "".join(f"<p class='note'>{e(n)}</p>" for n in report["notes"]))
    parts.append("<h2>References</h2><ul>" + "".join(f"<li>{e(r)}</li>" for r in report["references"]) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write(report, html_path, json_path):
    """Write the PNG figures, the JSON and the HTML, each under a temporary name first."""
    stem = os.path.splitext(html_path)[0]
    figures = {"confusion_matrix": stem + "_confusion.png", "importance": stem + "_importance.png"}
    report["figures"] = {k: os.path.basename(v) for k, v in figures.items()}
    for draw, path in ((_confusion_png, figures["confusion_matrix"]), (_importance_png, figures["importance"])):
        with staged(path) as tmp:
            draw(report, tmp)
    write_file(json_path, json.dumps(report, indent=1))
    write_file(html_path, _html(report, report["figures"]))
