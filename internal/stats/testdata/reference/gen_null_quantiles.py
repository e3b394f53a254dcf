#!/usr/bin/python3
"""Simulate the null distributions of Sentinel's drift statistics and write
their upper quantiles to null_quantiles.json, for internal/stats's
NullQuantile (null_test.go).

Run in this folder:  /usr/bin/python3 gen_null_quantiles.py   (several minutes)

Under the null both samples come from one distribution:

* binned statistics (psi, js_divergence in bits, l_infinity, and
  chi2_statistic, the Pearson statistic whose chi2_p_value Sentinel reports):
  the current counts are Multinomial(n, p), the reference counts an independent
  Multinomial(m, p) (m = "inf": the reference proportions are p exactly, and
  chi2_statistic is the goodness of fit sum n(a-p)^2/p); definitions as in
  gen_reference.py (PSI floors zero proportions to 1e-4; chi2 as
  chi2_contingency without correction, columns empty on both sides left out).
* wasserstein_normed: two samples of sizes n and m from a distribution,
  scipy.stats.wasserstein_distance-equivalent W1 between them divided by the
  reference sample's standard deviation (ddof=1): "quantiles". Also W1 divided
  by the standard deviation of the two samples pooled (ddof=0): "pooled", the
  scale Sentinel's null quantile is computed in before it is expressed in the
  reference's.

Each case stores the statistic's quantile at the upper tail probabilities of
TAILS, from `reps` draws with numpy.random.default_rng(seed).

* ks_p_value: how often the asymptotic KS p-value (scipy.special.kolmogorov
  with n*m/(n+m), as Sentinel computes it) falls below 0.01 and 0.001 between
  two samples of one distribution, continuous or with ties.
"""
import json
import math
import os

import numpy as np
import scipy

HERE = os.path.dirname(os.path.abspath(__file__))
EPS = 1e-4
TAILS = [0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002]
W_TAILS = [0.02, 0.01, 0.005, 0.002, 0.001]


def zipf(k, s):
    p = 1.0 / np.arange(1, k + 1) ** s
    return p / p.sum()


def poisson_bins():
    # Poisson(3) in the bins its deciles leave after merging: <=1, 2, 3, 4, 5, >5.
    from scipy.stats import poisson
    c = [poisson.cdf(1, 3)] + [poisson.pmf(x, 3) for x in (2, 3, 4, 5)]
    return np.array(c + [1 - sum(c)])


# Pooled proportions of the binned cases: numeric decile bins, the tied bins of
# a count, categorical features with long tails, a binary feature, and one
# category dominating a few rare ones.
BINNED = {
    "deciles": np.full(10, 0.1),
    "poisson_bins": poisson_bins(),
    "zipf20": zipf(20, 1.5),
    "zipf50": zipf(50, 1.0),
    "binary": np.array([0.9, 0.1]),
    "rare": np.array([0.97, 0.01, 0.01, 0.005, 0.005]),
}
SIZES_N = [100, 500, 1000, 10000]


def sizes_m(n):
    # The reference: a previous window of the same size, a reference period of
    # twelve windows, a baseline, and the population itself.
    return [n, 12 * n, 100000, "inf"]


def psi(e, a):
    e = np.where(e == 0, EPS, e)
    a = np.where(a == 0, EPS, a)
    return np.sum((a - e) * np.log(a / e), axis=1)


def js_bits(e, a):
    mid = (e + a) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        te = np.where(e > 0, e * np.log2(e / mid), 0.0)
        ta = np.where(a > 0, a * np.log2(a / mid), 0.0)
    return np.clip(np.sum(te + ta, axis=1) / 2, 0, 1)


def l_inf(e, a):
    return np.max(np.abs(e - a), axis=1)


def chi2_stat(ca, ce, n, m, p):
    """Pearson's statistic of the 2xk tables of counts ca (n) and ce (m)."""
    if m == "inf":
        return np.sum(n * (ca / n - p) ** 2 / p, axis=1)
    t = ca + ce
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(t > 0, (ca * m - ce * n) ** 2 / (n * m * t), 0.0)
    return np.sum(terms, axis=1)


def upper_quantiles(x, tails):
    return [float(np.quantile(x, 1 - t)) for t in tails]


def binned_cases(rng, reps):
    out = []
    for name, p in BINNED.items():
        for n in SIZES_N:
            for m in sizes_m(n):
                stats = {"psi": [], "js_divergence": [], "l_infinity": [],
                         "chi2_statistic": []}
                chunk = 20000
                for _ in range(reps // chunk):
                    ca = rng.multinomial(n, p, size=chunk)
                    a = ca / n
                    if m == "inf":
                        ce = None
                        e = np.tile(p, (chunk, 1))
                    else:
                        ce = rng.multinomial(m, p, size=chunk)
                        e = ce / m
                    stats["psi"].append(psi(e, a))
                    stats["js_divergence"].append(js_bits(e, a))
                    stats["l_infinity"].append(l_inf(e, a))
                    stats["chi2_statistic"].append(chi2_stat(ca, ce, n, m, p))
                for method, xs in stats.items():
                    xs = np.concatenate(xs)
                    out.append({
                        "method": method, "case": name,
                        "n": n, "m": m, "reps": reps,
                        "quantiles": upper_quantiles(xs, TAILS),
                    })
    return out


# Distributions of the Wasserstein cases. discrete_heavy: 60% zeros, the rest
# Poisson(3)+1, a count with heavy ties.
def draw(rng, name, shape):
    if name == "normal":
        return rng.normal(0, 1, shape)
    if name == "lognormal":
        return rng.lognormal(0, 1, shape)
    if name == "uniform":
        return rng.random(shape)
    if name == "discrete_heavy":
        z = rng.random(shape) < 0.6
        return np.where(z, 0.0, rng.poisson(3, shape) + 1.0)
    raise ValueError(name)


def wasserstein_rows(x, y):
    """W1 between each row of x (n values) and of y (m values)."""
    n, m = x.shape[1], y.shape[1]
    z = np.concatenate([x, y], axis=1)
    idx = np.argsort(z, axis=1, kind="stable")
    zs = np.take_along_axis(z, idx, axis=1)
    fa = np.cumsum(idx < n, axis=1) / n
    fb = np.cumsum(idx >= n, axis=1) / m
    return np.sum(np.abs(fa - fb)[:, :-1] * np.diff(zs, axis=1), axis=1)


W_SIZES = [(100, 100), (500, 500), (1000, 1000), (100, 20000), (500, 20000),
           (1000, 20000), (10000, 10000)]


def wasserstein_cases(rng):
    out = []
    for name in ["normal", "lognormal", "uniform", "discrete_heavy"]:
        for n, m in W_SIZES:
            big = n + m > 5000
            reps = 10000 if big else 40000
            chunk = 50 if big else 1000
            xs, pooled = [], []
            for _ in range(reps // chunk):
                cur = draw(rng, name, (chunk, n))
                ref = draw(rng, name, (chunk, m))
                w = wasserstein_rows(cur, ref)
                xs.append(w / ref.std(axis=1, ddof=1))
                pooled.append(w / np.concatenate([cur, ref], axis=1).std(axis=1))
            xs, pooled = np.concatenate(xs), np.concatenate(pooled)
            out.append({
                "method": "wasserstein_normed", "case": name, "n": n, "m": m,
                "reps": reps, "quantiles": upper_quantiles(xs, W_TAILS),
                "pooled": upper_quantiles(pooled, W_TAILS),
            })
            print(name, n, m, out[-1]["quantiles"], flush=True)
    return out


def ks_rows(x, y):
    """Two-sample KS statistic between each row of x and of y."""
    n, m = x.shape[1], y.shape[1]
    z = np.concatenate([x, y], axis=1)
    idx = np.argsort(z, axis=1, kind="stable")
    zs = np.take_along_axis(z, idx, axis=1)
    fa = np.cumsum(idx < n, axis=1) / n
    fb = np.cumsum(idx >= n, axis=1) / m
    # The CDFs are compared after the last of tied values only.
    last = np.concatenate([zs[:, 1:] != zs[:, :-1],
                           np.ones((z.shape[0], 1), bool)], axis=1)
    return np.max(np.where(last, np.abs(fa - fb), 0), axis=1)


def ks_rates(rng):
    import scipy.special
    out = []
    for name in ["normal", "lognormal", "discrete_heavy"]:
        for n, m in [(100, 100), (100, 20000), (500, 500), (1000, 20000)]:
            big = n + m > 5000
            reps = 10000 if big else 100000
            chunk = 50 if big else 1000
            ps = []
            for _ in range(reps // chunk):
                d = ks_rows(draw(rng, name, (chunk, n)), draw(rng, name, (chunk, m)))
                ps.append(scipy.special.kolmogorov(d * math.sqrt(n * m / (n + m))))
            ps = np.concatenate(ps)
            out.append({"case": name, "n": n, "m": m, "reps": reps,
                        "below_0.01": float(np.mean(ps < 0.01)),
                        "below_0.001": float(np.mean(ps < 0.001))})
            print("ks", out[-1], flush=True)
    return out


def main():
    doc = {
        "generator": "gen_null_quantiles.py",
        "numpy": np.__version__, "scipy": scipy.__version__,
        "tails": TAILS, "wasserstein_tails": W_TAILS,
        "distributions": {k: [float(v) for v in p] for k, p in BINNED.items()},
        "binned": binned_cases(np.random.default_rng(20261), 200000),
        "wasserstein": wasserstein_cases(np.random.default_rng(20262)),
        "ks_p_value": ks_rates(np.random.default_rng(20263)),
    }
    with open(os.path.join(HERE, "null_quantiles.json"), "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
