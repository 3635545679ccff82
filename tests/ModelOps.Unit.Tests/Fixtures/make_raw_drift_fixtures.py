"""Drift statistics of raw rows, computed with scipy and numpy (Debian's python3-scipy 1.10, python3-numpy): the oracle
the drift service's column comparisons must equal on the rows themselves, for columns of every shape.

    /usr/bin/python3 tests/ModelOps.Unit.Tests/Fixtures/make_raw_drift_fixtures.py > tests/ModelOps.Unit.Tests/Fixtures/raw_drift.json

The rows are not written out: both sides generate them with the same integer generator (xorshift64*, as in
make_fixtures.py) and the same arithmetic (+, −, ×, ÷ and floor only, in the same order), so the doubles are equal
bit for bit in Python and C#.
"""

import json
import math
import sys
import warnings

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

from make_fixtures import uniforms  # the generator the C# tests share (XorShift)

def column(spec):
    """The values of a generated column; the C# test (RawDriftTests.Column) computes exactly the same."""
    shape, seed, n, loc, scale = spec["shape"], spec["seed"], spec["n"], spec["loc"], spec["scale"]
    if shape == "uniform":
        return [loc + scale * u for u in uniforms(seed, n)]
    if shape == "bell":  # Irwin–Hall of four uniforms, centred: standard deviation scale / sqrt(3)
        u = uniforms(seed, 4 * n)
        return [loc + scale * (u[4 * i] + u[4 * i + 1] + u[4 * i + 2] + u[4 * i + 3] - 2.0) for i in range(n)]
    if shape == "integer":  # ties: a bell rounded down to integers
        u = uniforms(seed, 4 * n)
        return [float(math.floor(loc + scale * (u[4 * i] + u[4 * i + 1] + u[4 * i + 2] + u[4 * i + 3] - 2.0))) for i in range(n)]
    if shape == "pareto":  # heavy right tail
        return [loc + scale / (1.0 - u) for u in uniforms(seed, n)]
    if shape == "constant":
        return [loc] * n
    raise ValueError(shape)


def deciles(reference, current):
    """Counts between the reference's deciles (rank floor(q (n - 1)), repeated edges merged), as the service bins them."""
    ref = np.sort(np.array(reference))
    edges = []
    for k in range(1, 10):
        edge = ref[int(math.floor(k / 10 * (len(ref) - 1)))]
        if not edges or edges[-1] != edge:
            edges.append(edge)
    edges = np.array(edges)
    r = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=len(edges) + 1).astype(float)
    c = np.bincount(np.searchsorted(edges, current, side="left"), minlength=len(edges) + 1).astype(float)
    return r, c


def shares_metrics(r, c):
    p, q = r / r.sum(), c / c.sum()
    ps, qs = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
    return {
        "jensen_shannon": float(distance.jensenshannon(p, q)),
        "psi": float(np.sum((qs - ps) * np.log(qs / ps))),
        "total_variation": float(0.5 * np.abs(p - q).sum()),
    }


def numeric_case(name, reference, current):
    a, b = column(reference), column(current)
    ks = stats.ks_2samp(a, b)  # method="auto": exact up to 10,000 values per sample, else kstwo with n = round(n1 n2 / (n1 + n2))
    m, n = sorted([float(len(a)), float(len(b))], reverse=True)
    case = {
        "name": name, "reference": reference, "current": current,
        "distinct_reference": len(set(a)), "distinct_current": len(set(b)),
        "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
        "ks_kolmogorov_limit_pvalue": float(stats.kstwobign.sf(math.sqrt(m * n / (m + n)) * ks.statistic)),
        "wasserstein": float(stats.wasserstein_distance(a, b)),
        "reference_std": float(np.std(a)),
        "out_of_range": int(sum(1 for x in b if x < min(a) or x > max(a))),
    }
    case.update(shares_metrics(*deciles(a, b)))
    return case


def evidently_chisquare(reference, current):
    """Evidently's chisquare_stat_test: expected counts over the union of categories, the reference's scaled to the current size."""
    keys = sorted(set(reference) | set(current))
    k_norm = sum(current.values()) / sum(reference.values())
    f_exp = [reference.get(key, 0) * k_norm for key in keys]
    f_obs = [current.get(key, 0) for key in keys]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an expected count of 0 divides by zero: the statistic is inf, the p-value 0
        result = stats.chisquare(f_obs, f_exp)
    statistic, pvalue = float(result.statistic), float(result.pvalue)
    # One category has no degree of freedom (scipy: NaN); the service calls that no evidence of change (0, p = 1).
    return {"reference": reference, "current": current,
            "chi_square": "inf" if math.isinf(statistic) else "nan" if math.isnan(statistic) else statistic,
            "chi_square_pvalue": "nan" if math.isnan(pvalue) else pvalue}


def main():
    def spec(shape, seed, n, loc, scale):
        return {"shape": shape, "seed": seed, "n": n, "loc": loc, "scale": scale}

    sd3 = 3 * math.sqrt(3)  # a bell of standard deviation 3
    numeric = [
        # location far from zero compared with the spread: buckets of a relative-error sketch are about a σ wide here
        ("N(300, 3) shifted by 0.8", spec("bell", 11, 800, 300.0, sd3), spec("bell", 12, 900, 300.8, sd3)),
        ("N(300, 3) unchanged", spec("bell", 13, 1000, 300.0, sd3), spec("bell", 14, 700, 300.0, sd3)),
        ("Binomial(2000, 0.5)-like integers, shifted by 2", spec("integer", 15, 900, 1000.0, 22.36 * math.sqrt(3)),
         spec("integer", 16, 1000, 1002.0, 22.36 * math.sqrt(3))),
        ("integers with many ties, unchanged", spec("integer", 17, 600, 5.0, 4.0), spec("integer", 18, 650, 5.0, 4.0)),
        ("values near 1e-100 that triple", spec("uniform", 19, 500, 0.0, 1e-100), spec("uniform", 20, 500, 0.0, 3e-100)),
        ("values near 1e+100, unchanged", spec("uniform", 21, 800, 1e100, 1e99), spec("uniform", 22, 800, 1e100, 1e99)),
        ("mean 1e6, spread 1e-3", spec("bell", 23, 700, 1e6, 1e-3), spec("bell", 24, 700, 1e6 + 2e-4, 1e-3)),
        ("heavy tail, unchanged", spec("pareto", 25, 900, 0.0, 1.0), spec("pareto", 26, 900, 0.0, 1.0)),
        ("heavy tail, scaled by 1.3", spec("pareto", 27, 900, 0.0, 1.0), spec("pareto", 28, 900, 0.0, 1.3)),
        ("constant columns, equal", spec("constant", 29, 500, 5.0, 0.0), spec("constant", 30, 300, 5.0, 0.0)),
        ("constant columns, moved", spec("constant", 31, 500, 5.0, 0.0), spec("constant", 32, 300, 6.0, 0.0)),
        ("reference above 1000, unchanged", spec("bell", 33, 3000, -20.0, 7.0), spec("bell", 34, 2500, -20.0, 7.0)),
        ("reference above 1000, shifted", spec("bell", 35, 4000, -20.0, 7.0), spec("bell", 36, 2000, -19.0, 7.0)),
        ("both above 10,000 values (large-sample p-value)", spec("bell", 37, 12000, 50.0, 5.0), spec("bell", 38, 11000, 50.05, 5.0)),
        ("a small window against a large reference", spec("uniform", 39, 20000, 0.0, 1.0), spec("uniform", 40, 60, 0.1, 1.0)),
    ]
    fixture = {"scipy": scipy.__version__, "numpy": np.__version__, "numeric": [], "categorical": []}
    for name, reference, current in numeric:
        fixture["numeric"].append(numeric_case(name, reference, current))

    for reference, current in [
        ({"a": 50, "b": 50}, {"z1": 30, "z2": 20}),  # nothing in common
        ({"false": 400}, {"true": 300}),  # a boolean from all false to all true
        ({"a": 500, "b": 300, "c": 200}, {"a": 480, "b": 330, "c": 185, "d": 5}),  # a few values of a new label
        ({"a": 500, "b": 300, "c": 200}, {"a": 600, "b": 400}),  # a label gone: counted as an expected one not seen
        ({"a": 500, "b": 300, "c": 200}, {"a": 490, "b": 310, "c": 200}),
        ({"x": 700}, {"x": 650}),  # one category on both sides
    ]:
        fixture["categorical"].append(evidently_chisquare(reference, current))

    json.dump(fixture, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
