#!/usr/bin/python3
"""Reference values for internal/drift's label-based performance metrics.

Run in this folder:  /usr/bin/python3 gen_performance_reference.py

Writes <case>.csv (header "prediction,label") for the small cases and
expected.json with scikit-learn's metrics for every case.  The two cases above
the exact-AUC limit are not written out: their pairs come from splitmix64, a
generator simple enough to repeat bit for bit in Go, and expected.json records
its seed, size and first outputs so the Go test can check it reproduces them.
See README.md.
"""
import csv
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, log_loss, mean_absolute_error,
                             mean_squared_error, roc_auc_score)

HERE = os.path.dirname(os.path.abspath(__file__))
M64 = (1 << 64) - 1


def write_csv(name, preds, labels):
    with open(os.path.join(HERE, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["prediction", "label"])
        for p, y in zip(preds, labels):
            w.writerow([cell(p), cell(y)])


def cell(v):
    # repr round-trips a double exactly; binary labels are written as 0 and 1.
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(float(v))


def read_csv(name, numeric):
    with open(os.path.join(HERE, name + ".csv"), newline="") as f:
        r = csv.reader(f)
        assert next(r) == ["prediction", "label"]
        rows = list(r)
    if not numeric:
        return [p for p, _ in rows], [y for _, y in rows]
    return (np.array([float(p) for p, _ in rows]),
            np.array([float(y) for _, y in rows]))


def binary_metrics(p, y, threshold, probability):
    out = {
        "count": len(p),
        "accuracy": accuracy_score(y, (p >= threshold).astype(int)),
        "label_positive_rate": float(np.mean(y)),
        "mean_prediction": float(np.mean(p)),
    }
    if 0 < y.sum() < len(y):
        out["auc"] = roc_auc_score(y, p)
    if probability:
        # eps is given explicitly: sklearn 1.2's default is "auto" (float64 eps)
        # and later releases clip at the dtype's eps; Sentinel follows 1e-15.
        out["log_loss"] = log_loss(y, p, eps=1e-15, labels=[0, 1])
    return out


def splitmix64(seed):
    state = seed & M64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        yield z ^ (z >> 31)


def uniforms(seed):
    # 53 random bits scaled by 2^-53: exact in any IEEE double arithmetic.
    for z in splitmix64(seed):
        yield (z >> 11) * 2.0 ** -53


def generated(name, seed, n):
    """Pairs for the cases above the exact-AUC limit.  Only single IEEE
    operations on doubles are used, so Go reproduces them exactly (Go must
    not fuse them: it converts each product explicitly)."""
    u = uniforms(seed)
    preds, labels = [], []
    for _ in range(n):
        positive = next(u) < 0.2
        a, b = next(u), next(u)
        if name == "above_limit_probability":
            p = max(a, b) if positive else a * b
        elif name == "above_limit_concentrated":
            # a fraud-like model: nearly all probabilities below 0.05
            p = (a * 0.05) if positive else (a * b) * 0.01
        else:  # above_limit_score: margins
            d = a - b
            p = (d * 4.0) + 1.5 if positive else d * 4.0
        preds.append(p)
        labels.append(1 if positive else 0)
    return np.array(preds), np.array(labels)


def main():
    rng = np.random.default_rng(20261121)
    cases = []

    def binary_case(name, p, y, kind="probability", thresholds=None):
        write_csv(name, p, y)
        pr, yr = read_csv(name, True)
        for th in thresholds or [0.5 if kind == "probability" else 0.0]:
            cases.append({"name": "%s@%g" % (name, th), "csv": name + ".csv",
                          "kind": kind, "threshold": th,
                          "expected": binary_metrics(pr, yr.astype(int), th, kind == "probability")})

    # balanced: two overlapping beta distributions
    y = rng.integers(0, 2, 2000)
    p = np.where(y == 1, rng.beta(4, 2, 2000), rng.beta(2, 4, 2000)).round(6)
    binary_case("balanced", p, y)

    # imbalanced: 3% positives, low probabilities
    y = (rng.random(5000) < 0.03).astype(int)
    p = np.where(y == 1, rng.beta(2, 5, 5000), rng.beta(1, 30, 5000)).round(6)
    binary_case("imbalanced", p, y)

    # heavy ties: one decimal, including exact 0 and 1 (log loss clipping)
    y = rng.integers(0, 2, 3000)
    p = np.clip(np.where(y == 1, rng.normal(0.6, 0.25, 3000), rng.normal(0.4, 0.25, 3000)), 0, 1).round(1)
    binary_case("heavy_ties", p, y)

    # perfect separation, with certain predictions at 0 and 1
    y = rng.integers(0, 2, 500)
    p = np.where(y == 1, rng.uniform(0.6, 1.0, 500), rng.uniform(0.0, 0.4, 500)).round(4)
    p[np.argmax(y == 1)] = 1.0
    p[np.argmax(y == 0)] = 0.0
    binary_case("perfect", p, y)

    # inverted: the model ranks backwards, confidently wrong at the extremes
    y = rng.integers(0, 2, 500)
    p = np.where(y == 1, rng.uniform(0.0, 0.45, 500), rng.uniform(0.55, 1.0, 500)).round(4)
    p[np.argmax(y == 1)] = 0.0
    p[np.argmax(y == 0)] = 1.0
    binary_case("inverted", p, y)

    # score: a real-valued margin, thresholded at 0 and at a configured 0.75
    y = rng.integers(0, 2, 2000)
    s = np.where(y == 1, rng.normal(1.0, 2.0, 2000), rng.normal(-1.0, 2.0, 2000)).round(5)
    binary_case("score", s, y, kind="score", thresholds=[0.0, 0.75])

    # class: names and integers as text
    classes = np.array(["cat", "dog", "bird", "1", "2"])
    yl = classes[rng.integers(0, 5, 1000)]
    pl = np.where(rng.random(1000) < 0.7, yl, classes[rng.integers(0, 5, 1000)])
    write_csv("class", list(pl), list(yl))
    pr, yr = read_csv("class", False)
    cases.append({"name": "class", "csv": "class.csv", "kind": "class",
                  "expected": {"count": len(pr), "accuracy": accuracy_score(yr, pr)}})

    # regression
    yv = rng.normal(50, 20, 2000).round(4)
    pv = (yv + rng.normal(1.5, 5, 2000)).round(4)
    write_csv("regression", pv, yv)
    pr, yr = read_csv("regression", True)
    cases.append({"name": "regression", "csv": "regression.csv", "kind": "regression", "expected": {
        "count": len(pr),
        "mae": mean_absolute_error(yr, pr),
        "rmse": float(np.sqrt(mean_squared_error(yr, pr))),
        "mean_error": float(np.mean(pr - yr)),
    }})

    generated_cases = [("above_limit_probability", "probability", 1),
                       ("above_limit_concentrated", "probability", 2),
                       ("above_limit_score", "score", 3)]
    for name, kind, seed in generated_cases:
        n = 250000
        p, y = generated(name, seed, n)
        th = 0.5 if kind == "probability" else 0.0
        first = list(zip(*[(float(a), int(b)) for a, b in zip(p[:3], y[:3])]))
        cases.append({"name": name, "kind": kind, "threshold": th,
                      "generated": {"seed": seed, "n": n,
                                    "first_predictions": list(first[0]),
                                    "first_labels": list(first[1])},
                      "expected": binary_metrics(p, y, th, kind == "probability")})

    out = {"generator": "gen_performance_reference.py",
           "sklearn": sklearn.__version__, "numpy": np.__version__,
           "cases": cases}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
