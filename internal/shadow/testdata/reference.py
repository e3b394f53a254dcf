#!/usr/bin/python3
"""Shadow pairs and their statistics, computed independently with numpy.

Writes pairs.csv (one prediction per line: model, request id, version,
prediction, event-time offset in milliseconds, in the order the Go test offers
them) and reference.json (per model: the pairs, the requests one version
alone scored, the disagreement rate, and the mean, median and 95th
percentile of the absolute differences; quantiles by the lower rank,
numpy's method="lower", the rank the Go sketch reports).

Run from internal/shadow with the system python and its numpy (1.24):
/usr/bin/python3 testdata/reference.py
"""
import csv
import json

import numpy as np

rng = np.random.default_rng(20261130)
rows = []
expected = {}


def emit(model, ids, ref, cand, only_ref, only_cand, fmt):
    """Queue both versions' predictions of each request, one version's alone
    for the unpaired ones, at nearby event times."""
    n = len(ids)
    t = np.sort(rng.integers(0, 50_000, n))
    for i in range(n):
        lag = int(rng.integers(0, 800))
        if not only_cand[i]:
            rows.append((t[i], model, ids[i], "v1", fmt(ref[i])))
        if not only_ref[i]:
            rows.append((t[i] + lag, model, ids[i], "v2", fmt(cand[i])))


# A probability model: the candidate is the reference shifted and noisier.
n = 4000
ref = rng.beta(2, 5, n)
cand = np.clip(ref + rng.normal(0.03, 0.06, n), 0, 1)
only_ref = rng.random(n) < 0.05
only_cand = ~only_ref & (rng.random(n) < 0.03)
ids = [f"p-{i}" for i in range(n)]
emit("prob", ids, ref, cand, only_ref, only_cand, lambda x: repr(float(x)))
paired = ~only_ref & ~only_cand
d = np.abs(cand[paired] - ref[paired])
expected["prob"] = {
    "pairs": int(paired.sum()),
    "reference_only": int(only_ref.sum()),
    "candidate_only": int(only_cand.sum()),
    "disagreement_ratio": float(np.mean((ref[paired] >= 0.5) != (cand[paired] >= 0.5))),
    "abs_difference_mean": float(np.mean(d)),
    "abs_difference_p50": float(np.quantile(d, 0.5, method="lower")),
    "abs_difference_p95": float(np.quantile(d, 0.95, method="lower")),
}

# A class model: the candidate changes one decision in eight.
n = 2000
classes = np.array(["stay", "leave", "review"])
refc = classes[rng.integers(0, 3, n)]
flip = rng.random(n) < 0.125
index = {c: i for i, c in enumerate(classes)}
candc = np.array([classes[(index[r] + 1) % 3] if f else r for r, f in zip(refc, flip)])
only_ref = rng.random(n) < 0.02
only_cand = np.zeros(n, dtype=bool)
ids = [f"c-{i}" for i in range(n)]
emit("cls", ids, refc, candc, only_ref, only_cand, str)
paired = ~only_ref
expected["cls"] = {
    "pairs": int(paired.sum()),
    "reference_only": int(only_ref.sum()),
    "candidate_only": 0,
    "disagreement_ratio": float(np.mean(refc[paired] != candc[paired])),
}

rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
with open("testdata/pairs.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["model", "request_id", "version", "prediction", "offset_ms"])
    for t, model, rid, version, pred in rows:
        w.writerow([model, rid, version, pred, int(t)])
with open("testdata/reference.json", "w") as f:
    json.dump(expected, f, indent=2, sort_keys=True)
    f.write("\n")
