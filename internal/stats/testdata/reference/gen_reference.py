#!/usr/bin/python3
"""Generate reference data and expected statistics for Sentinel's
distribution statistics (internal/stats).

Run in this folder:  /usr/bin/python3 gen_reference.py

Writes <case>_baseline.csv / <case>_serving.csv (one column, header
"value"; empty cell, written "", = null; numeric cases may contain NaN, Inf, -Inf) and
expected.json.  All statistics are computed from the files as written
(they are read back and parsed), so the Go side sees exactly the same
values.  Definitions: see README.md.
"""
import csv
import json
import math
import os

import numpy as np
import scipy
import scipy.spatial.distance
import scipy.special
import scipy.stats

HERE = os.path.dirname(os.path.abspath(__file__))
N_BASE = 20000
N_SERV = 5000
EPS = 1e-4
PCTS = [10, 20, 30, 40, 50, 60, 70, 80, 90]


# ---------------------------------------------------------------- helpers

def fmt_float(x):
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return repr(x)


def write_csv(name, cells):
    """cells: list of strings ('' = null)."""
    with open(os.path.join(HERE, name), "w", newline="") as f:
        f.write("value\n")
        for c in cells:
            # A null is written as a quoted empty field ("") rather than a
            # blank line: Go's encoding/csv silently skips blank lines.
            f.write((c if c != "" else '""') + "\n")


def read_csv(name):
    with open(os.path.join(HERE, name), newline="") as f:
        r = csv.reader(f)
        header = next(r)
        assert header == ["value"], header
        return [row[0] if row else "" for row in r]


def parse_numeric(cells):
    """Returns (finite values array, n_rows, n_null, n_nan, n_inf)."""
    vals = []
    n_null = n_nan = n_inf = 0
    for c in cells:
        if c == "":
            n_null += 1
            continue
        x = float(c)  # accepts NaN / Inf / -Inf
        if math.isnan(x):
            n_nan += 1
        elif math.isinf(x):
            n_inf += 1
        else:
            vals.append(x)
    return np.array(vals, dtype=np.float64), len(cells), n_null, n_nan, n_inf


def psi(e, a):
    e = np.asarray(e, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    e = np.where(e == 0, EPS, e)
    a = np.where(a == 0, EPS, a)
    return float(np.sum((a - e) * np.log(a / e)))


def js_div(e, a):
    v = float(scipy.spatial.distance.jensenshannon(e, a, base=2) ** 2)
    if math.isnan(v):  # sqrt of a tiny negative rounding residue
        v = 0.0
    return v


def finite(x):
    x = float(x)
    assert math.isfinite(x), x
    return x


def flist(xs):
    return [finite(x) for x in xs]


# ---------------------------------------------------------------- data

def numeric_cells(values, decimals):
    """Round finite values to `decimals` (keeps files small; the written
    value is then exact) and format; NaN/Inf pass through; None = null."""
    out = []
    for v in values:
        if v is None:
            out.append("")
        elif not math.isfinite(v):
            out.append(fmt_float(v))
        else:
            out.append(fmt_float(round(float(v), decimals)))
    return out


def int_cells(values):
    return [str(int(v)) for v in values]


def with_specials(rng, x, p_null, p_nan, n_pinf, n_ninf):
    x = [float(v) for v in x]
    n = len(x)
    u = rng.random(n)
    out = []
    for i in range(n):
        if u[i] < p_null:
            out.append(None)
        elif u[i] < p_null + p_nan:
            out.append(float("nan"))
        else:
            out.append(x[i])
    ok = [i for i in range(n) if out[i] is not None and math.isfinite(out[i])]
    idx = rng.choice(ok, size=n_pinf + n_ninf, replace=False)
    for j, i in enumerate(idx):
        out[i] = float("inf") if j < n_pinf else float("-inf")
    return out


def cat_cells(rng, n, cats, probs, p_null=0.0):
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum()
    draws = rng.choice(len(cats), size=n, p=probs)
    u = rng.random(n)
    return ["" if u[i] < p_null else cats[draws[i]] for i in range(n)]


def make_data():
    """Returns list of (name, type, baseline_cells, serving_cells)."""
    cases = []

    r1, r2 = np.random.default_rng(101), np.random.default_rng(102)
    cases.append(("normal_shift", "numeric",
                  numeric_cells(r1.normal(0, 1, N_BASE), 6),
                  numeric_cells(r2.normal(0.3, 1.2, N_SERV), 6)))

    r1, r2 = np.random.default_rng(201), np.random.default_rng(202)
    cases.append(("normal_same", "numeric",
                  numeric_cells(r1.normal(10, 2, N_BASE), 6),
                  numeric_cells(r2.normal(10, 2, N_SERV), 6)))

    r1, r2 = np.random.default_rng(301), np.random.default_rng(302)
    cases.append(("lognormal_scale", "numeric",
                  numeric_cells(r1.lognormal(0, 0.5, N_BASE) * 100, 4),
                  numeric_cells(r2.lognormal(0.2, 0.6, N_SERV) * 100, 4)))

    r1, r2 = np.random.default_rng(401), np.random.default_rng(402)
    cases.append(("integer_ties", "numeric",
                  int_cells(r1.poisson(3, N_BASE)),
                  int_cells(r2.poisson(3.6, N_SERV))))

    r1, r2 = np.random.default_rng(501), np.random.default_rng(502)
    b = with_specials(r1, r1.normal(5, 1, N_BASE), 0.05, 0.01, 7, 5)
    s = with_specials(r2, r2.normal(5.5, 1, N_SERV), 0.10, 0.02, 4, 6)
    cases.append(("with_nulls_nan", "numeric",
                  numeric_cells(b, 6), numeric_cells(s, 6)))

    r1, r2 = np.random.default_rng(601), np.random.default_rng(602)
    cases.append(("uniform_wide", "numeric",
                  numeric_cells(r1.uniform(-1000, 5000, N_BASE), 3),
                  numeric_cells(r2.uniform(-500, 6000, N_SERV), 3)))

    r1, r2 = np.random.default_rng(701), np.random.default_rng(702)
    cases.append(("cat_shift", "categorical",
                  cat_cells(r1, N_BASE, list("ABCDEF"),
                            [.3, .25, .2, .1, .1, .05]),
                  cat_cells(r2, N_SERV, list("ABCDEFG"),
                            [.2, .25, .2, .15, .1, .05, .03])))

    r1, r2 = np.random.default_rng(801), np.random.default_rng(802)
    cases.append(("cat_missing", "categorical",
                  cat_cells(r1, N_BASE, list("ABCD"), [.4, .3, .2, .1]),
                  cat_cells(r2, N_SERV, list("ABC"), [.4, .3, .2],
                            p_null=0.05)))

    r1, r2 = np.random.default_rng(901), np.random.default_rng(902)
    p8 = [.22, .18, .15, .12, .1, .09, .08, .06]
    cases.append(("cat_same", "categorical",
                  cat_cells(r1, N_BASE, list("ABCDEFGH"), p8),
                  cat_cells(r2, N_SERV, list("ABCDEFGH"), p8)))
    return cases


# ---------------------------------------------------------------- stats

def numeric_case(name, bf, sf):
    b, nb, b_null, b_nan, b_inf = parse_numeric(read_csv(bf))
    s, ns, s_null, s_nan, s_inf = parse_numeric(read_csv(sf))

    deciles = np.percentile(b, PCTS)
    edges = np.unique(deciles)
    k = len(edges) + 1
    bc = np.bincount(np.searchsorted(edges, b, side="left"), minlength=k)
    sc = np.bincount(np.searchsorted(edges, s, side="left"), minlength=k)
    bp = bc / bc.sum()
    sp = sc / sc.sum()

    ks = scipy.stats.ks_2samp(b, s)
    D = float(ks.statistic)
    n, m = len(b), len(s)
    en = n * m / (n + m)
    ks_p = float(scipy.special.kolmogorov(D * math.sqrt(en)))
    ks_asymp = float(scipy.stats.ks_2samp(b, s, method="asymp").pvalue)
    w = float(scipy.stats.wasserstein_distance(b, s))
    std = float(np.std(b, ddof=1))

    return {
        "name": name, "type": "numeric",
        "baseline_file": bf, "serving_file": sf,
        "baseline_rows": nb, "serving_rows": ns,
        "null_rate": s_null / ns, "nan_rate": s_nan / ns,
        "inf_rate": s_inf / ns,
        "baseline_null_rate": b_null / nb, "baseline_nan_rate": b_nan / nb,
        "baseline_inf_rate": b_inf / nb,
        "psi": psi(bp, sp), "js_divergence": js_div(bp, sp),
        "ks_statistic": D, "ks_p_value": ks_p,
        "ks_p_value_scipy_asymp": ks_asymp,
        "wasserstein": w, "wasserstein_normed": w / std,
        "deciles": flist(deciles), "bin_edges": flist(edges),
        "baseline_counts": [int(c) for c in bc],
        "serving_counts": [int(c) for c in sc],
        "baseline_props": flist(bp), "serving_props": flist(sp),
        "mean": finite(b.mean()), "std": finite(std),
        "min": finite(b.min()), "max": finite(b.max()), "count": int(n),
        "serving_count": int(m),
    }


def categorical_case(name, bf, sf):
    bcells, scells = read_csv(bf), read_csv(sf)
    nb, ns = len(bcells), len(scells)
    b = [c for c in bcells if c != ""]
    s = [c for c in scells if c != ""]
    cats = sorted(set(b) | set(s))
    bc = np.array([b.count(c) for c in cats], dtype=np.int64)
    sc = np.array([s.count(c) for c in cats], dtype=np.int64)
    bp = bc / bc.sum()
    sp = sc / sc.sum()
    diff = np.abs(bp - sp)
    li = int(np.argmax(diff))  # first maximum in sorted order
    chi = scipy.stats.chi2_contingency(np.vstack([bc, sc]), correction=False)
    return {
        "name": name, "type": "categorical",
        "baseline_file": bf, "serving_file": sf,
        "baseline_rows": nb, "serving_rows": ns,
        "null_rate": (ns - len(s)) / ns,
        "baseline_null_rate": (nb - len(b)) / nb,
        "psi": psi(bp, sp), "js_divergence": js_div(bp, sp),
        "l_infinity": finite(diff[li]), "l_infinity_value": cats[li],
        "chi2_statistic": finite(chi[0]), "chi2_p_value": finite(chi[1]),
        "chi2_dof": int(chi[2]),
        "categories": cats,
        "baseline_props": flist(bp), "serving_props": flist(sp),
        "baseline_counts": [int(c) for c in bc],
        "serving_counts": [int(c) for c in sc],
    }


def functions_section():
    kol = [[x, finite(scipy.special.kolmogorov(x))]
           for x in [0.2, 0.5, 0.8, 1.0, 1.36, 2.0, 3.0]]
    chi_pairs = [(0.5, 1), (3.841458820694124, 1), (10.0, 1), (1.0, 2),
                 (5.991464547107979, 2), (3.0, 5), (11.0705, 5),
                 (100.0, 5), (30.0, 30), (50.0, 30), (0.0, 3), (200.0, 2)]
    chi = [[x, df, finite(scipy.stats.chi2.sf(x, df))] for x, df in chi_pairs]
    pairs = [
        ([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]),
        ([0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]),
        ([1.0, 0.0], [0.0, 1.0]),
        ([0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]),
        ([0.2, 0.3, 0.0, 0.5], [0.0, 0.3, 0.2, 0.5]),
    ]
    return {
        "kolmogorov_sf": kol,
        "chi2_sf": chi,
        "psi": [[e, a, psi(e, a)] for e, a in pairs],
        "js_divergence": [[e, a, js_div(e, a)] for e, a in pairs],
    }


def main():
    out_cases = []
    for name, typ, bcells, scells in make_data():
        bf, sf = name + "_baseline.csv", name + "_serving.csv"
        write_csv(bf, bcells)
        write_csv(sf, scells)
        if typ == "numeric":
            out_cases.append(numeric_case(name, bf, sf))
        else:
            out_cases.append(categorical_case(name, bf, sf))
    doc = {
        "generator": "gen_reference.py",
        "numpy": np.__version__, "scipy": scipy.__version__,
        "cases": out_cases,
        "functions": functions_section(),
    }
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
