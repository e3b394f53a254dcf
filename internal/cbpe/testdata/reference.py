#!/usr/bin/env python3
"""Reference values for internal/cbpe, from scikit-learn and numpy.

Run from this directory (Debian's python3-sklearn 1.2.1, numpy 1.24.2, scipy 1.10):

    /usr/bin/python3 reference.py > reference.json

It follows the published method of NannyML's confidence-based performance
estimation (CBPE), independently of Sentinel's Go code:

- calibration: scikit-learn's IsotonicRegression(out_of_bounds="clip"), which
  is NannyML's IsotonicCalibrator, fitted on the labelled reference rows;
- whether to calibrate: NannyML's needs_calibration (no calibration with one
  class or a reference AUC above 0.999; otherwise calibrate when the expected
  calibration error over 10 equal-count bins of cross-validated predictions is
  lower calibrated than raw), with one change that makes it reproducible
  without NannyML's random splits: ten folds, row i in fold i % 10, the test
  rows concatenated fold after fold and sorted stably;
- expected accuracy: NannyML's, the mean of p̂ where the model predicts
  positive (raw probability >= 0.5) and 1 - p̂ where it predicts negative;
- expected ROC AUC: the area under the ROC curve on which each prediction
  counts as p̂ of a positive and 1 - p̂ of a negative, computed here by
  scikit-learn's roc_auc_score with those sample weights (trapezoids from
  (0, 0) to (1, 1)), and also by NannyML's published estimate_roc_auc, which
  appends a threshold of 1 (a phantom positive) and differs by O(1/n).

The inputs are generated here with a fixed seed and written into the output,
so the Go tests need neither python nor the generator.
"""

import json

import numpy as np
from scipy import stats
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import auc as sk_auc
from sklearn.metrics import roc_auc_score

FOLDS = 10
BINS = 10


def bin_edges(n, bins):
    # NannyML's _get_bin_index_edges.
    if n <= 2 * bins:
        bins = n // 2
    width = n // bins
    edges = np.asarray(range(0, n + 1, width))
    edges[-1] = n
    return list(zip(edges[:-1], edges[1:]))


def ece(y, p):
    # NannyML's _calculate_expected_calibration_error, sorting stably.
    order = np.argsort(p, kind="stable")
    p, y = p[order], y[order]
    terms = []
    for lo, hi in bin_edges(len(p), BINS):
        terms.append((hi - lo) / len(p) * abs(np.mean(p[lo:hi]) - np.mean(y[lo:hi])))
    return float(np.sum(terms))


def needs_calibration(y, p):
    if len(np.unique(y)) == 1:
        return False, float("nan"), float("nan")
    idx = np.arange(len(p))
    raw, cal, ys = [], [], []
    for f in range(FOLDS):
        test, train = idx % FOLDS == f, idx % FOLDS != f
        ir = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(p[train], y[train])
        raw.append(p[test])
        cal.append(ir.predict(p[test]))
        ys.append(y[test])
    raw, cal, ys = np.concatenate(raw), np.concatenate(cal), np.concatenate(ys)
    before, after = ece(ys, raw), ece(ys, cal)
    if roc_auc_score(y, p) > 0.999:
        return False, before, after
    return before > after, before, after


def nannyml_estimate_roc_auc(q):
    # NannyML's estimate_roc_auc as published (nannyml 0.10).
    thresholds = np.append(np.sort(q), 1)
    one_min_thresholds = 1 - thresholds
    TP = np.cumsum(thresholds[::-1])[::-1]
    FP = np.cumsum(one_min_thresholds[::-1])[::-1]
    thresholds_with_zero = np.insert(thresholds, 0, 0, axis=0)[:-1]
    one_min_thresholds_with_zero = np.insert(one_min_thresholds, 0, 0, axis=0)[:-1]
    FN = np.cumsum(thresholds_with_zero)
    TN = np.cumsum(one_min_thresholds_with_zero)
    keep = np.diff(np.insert(thresholds, 0, -1, axis=0)).astype(bool)
    TP, FP, FN, TN = TP[keep], FP[keep], FN[keep], TN[keep]
    tpr = TP / (TP + FN)
    fpr = FP / (FP + TN)
    return float(sk_auc(fpr, tpr))


def case(name, p_ref, y_ref, p_serve):
    p_ref = np.asarray(p_ref, dtype=float)
    y_ref = np.asarray(y_ref, dtype=float)
    p_serve = np.asarray(p_serve, dtype=float)
    calibrate, before, after = needs_calibration(y_ref, p_ref)
    out = {
        "name": name,
        "reference_p": p_ref.tolist(),
        "reference_y": y_ref.astype(int).tolist(),
        "serving_p": p_serve.tolist(),
        "method": "isotonic" if calibrate else "none",
        "ece": before,
        "ece_calibrated": after,
    }
    ir = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(p_ref, y_ref)
    out["x"], out["y"] = ir.X_thresholds_.tolist(), ir.y_thresholds_.tolist()
    q = ir.predict(p_serve) if calibrate else np.clip(p_serve, 0, 1)
    right = np.where(p_serve >= 0.5, q, 1 - q)
    out["calibrated"] = q.tolist()
    out["accuracy"] = float(np.mean(right))
    out["correct_variance"] = float(np.var(right))
    out["positives"], out["negatives"] = float(np.sum(q)), float(np.sum(1 - q))
    n = len(q)
    out["auc"] = float(
        roc_auc_score(
            np.concatenate([np.ones(n), np.zeros(n)]),
            np.concatenate([q, q]),
            sample_weight=np.concatenate([q, 1 - q]),
        )
    )
    out["nannyml_auc"] = nannyml_estimate_roc_auc(q)
    return out


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def main():
    rng = np.random.default_rng(20261122)
    cases = []

    def draw(n, shift=0.0):
        x = rng.normal(shift, 1, n)
        return x, rng.random(n) < sigmoid(1.5 * x - 1)

    # A calibrated model: calibrating should not help; the serving inputs shift.
    x, y = draw(1200)
    xs, _ = draw(800, shift=0.7)
    cases.append(case("calibrated", np.round(sigmoid(1.5 * x - 1), 6), y, np.round(sigmoid(1.5 * xs - 1), 6)))

    # Overconfident: logits three times too large.
    x, y = draw(1200)
    xs, _ = draw(800, shift=-0.4)
    cases.append(case("overconfident", np.round(sigmoid(4.5 * x - 3), 6), y, np.round(sigmoid(4.5 * xs - 3), 6)))

    # Underconfident and rounded to two decimals: heavy ties on both sides.
    x, y = draw(1500)
    xs, _ = draw(800, shift=0.3)
    cases.append(case("underconfident_ties", np.round(sigmoid(0.5 * x - 0.3), 2), y, np.round(sigmoid(0.5 * xs - 0.3), 2)))

    # Exact 0, ½ and 1 among the probabilities, and serving values outside
    # the reference range (clipped by the map).
    x, y = draw(1200)
    p = np.round(sigmoid(2 * x - 1.3), 3)
    p[:40], p[40:80], p[80:100] = 0.0, 1.0, 0.5
    xs, _ = draw(800, shift=1.0)
    ps = np.round(sigmoid(2.5 * xs - 1.3), 3)
    ps[:10], ps[10:20], ps[20:30] = 0.0, 1.0, 0.5
    cases.append(case("extremes", p, y, ps))

    # Probabilities closer together than float64's resolution: scikit-learn
    # merges them into one value when fitting.
    base = np.repeat(np.round(np.linspace(0.05, 0.95, 25), 2), 12)
    jitter = np.tile(np.arange(12), 25) * 1e-16
    p = base + jitter
    y = rng.random(len(p)) < base
    cases.append(case("eps_ties", p, y, np.round(rng.random(500), 4)))

    # Full-precision probabilities.
    x, y = draw(400)
    xs, _ = draw(300, shift=0.2)
    cases.append(case("full_precision", sigmoid(2.2 * x - 1.1), y, sigmoid(2.2 * xs - 1.1)))

    # A model that separates the reference rows perfectly: no calibration.
    x = rng.normal(0, 1, 500)
    cases.append(case("perfect_ranking", np.round(sigmoid(3 * x), 6), x > 0, np.round(sigmoid(3 * rng.normal(0, 1, 300)), 6)))

    binomial = []
    for k, n, p in [(0, 10, 0.3), (3, 10, 0.3), (40, 100, 0.55), (812, 1000, 0.85), (4350, 5000, 0.88), (99, 100, 0.999)]:
        binomial.append({"k": k, "n": n, "p": p, "cdf": float(stats.binom.cdf(k, n, p))})

    json.dump({"cases": cases, "binomial_cdf": binomial}, __import__("sys").stdout, separators=(",", ":"))
    print()


if __name__ == "__main__":
    main()
