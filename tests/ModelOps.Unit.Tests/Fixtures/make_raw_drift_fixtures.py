"""Drift statistics of raw rows, computed with scipy and numpy (Debian's python3-scipy 1.10, python3-numpy): the oracle
the drift service's column comparisons must equal on the rows themselves, for columns of every shape, and lie within
their reported bounds of beyond the exact cap.

    /usr/bin/python3 tests/ModelOps.Unit.Tests/Fixtures/make_raw_drift_fixtures.py > tests/ModelOps.Unit.Tests/Fixtures/raw_drift.json

The rows are not written out: both sides generate them with the same integer generator (xorshift64*, as in
make_fixtures.py) and the same arithmetic (+, −, ×, ÷ and floor only, in the same order), so the doubles are equal
bit for bit in Python and C#.
"""

import json
import math
import sys
import warnings
from collections import Counter

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
    if shape == "bernoulli":  # 1 with probability loc, else 0
        return [float(math.floor(u + loc)) for u in uniforms(seed, n)]
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
    low, high = min(a), max(a)
    ks = stats.ks_2samp(a, b)  # method="auto": exact up to 10,000 values per sample, else kstwo with n = round(n1 n2 / (n1 + n2))
    m, n = sorted([float(len(a)), float(len(b))], reverse=True)
    case = {
        "name": name, "reference": reference, "current": current,
        "distinct_reference": len(set(a)), "distinct_current": len(set(b)),
        "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
        "ks_kolmogorov_limit_pvalue": float(stats.kstwobign.sf(math.sqrt(m * n / (m + n)) * ks.statistic)),
        "wasserstein": float(stats.wasserstein_distance(a, b)),
        "reference_std": float(np.std(a)),
        "out_of_range": int(sum(1 for x in b if x < low or x > high)),
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


def evidently_binned(reference, current, numeric, feel_zeroes):
    """evidently.calculations.stattests.utils.get_binned_data, in numpy: Sturges bins over both samples while the
    reference has more than 20 distinct numbers, else value counts over the values of both."""
    ref, cur = np.array(reference), np.array(current)
    if numeric and len(np.unique(ref)) > 20:
        bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        rp = np.histogram(ref, bins)[0] / len(ref)
        cp = np.histogram(cur, bins)[0] / len(cur)
    else:
        keys = sorted(set(reference) | set(current))
        rp = np.array([np.count_nonzero(ref == k) / len(ref) for k in keys])
        cp = np.array([np.count_nonzero(cur == k) / len(cur) for k in keys])
    if feel_zeroes:
        for shares in (rp, cp):
            smallest = min(shares[shares != 0])
            np.place(shares, shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return rp, cp


def evidently_case(name, reference, current, numeric, method=None):
    """Evidently's default test for the column (stattests.registry._get_default_stattest), or the named one, with its
    default threshold and its comparison."""
    n_values = len(set(reference) | set(current))
    if method is None:
        if len(reference) <= 1000:
            method = ("chisquare" if n_values > 2 else "z") if n_values <= 5 or not numeric else "ks"
        else:
            method = ("jensenshannon" if n_values <= 5 else "wasserstein") if numeric else "jensenshannon"
    if method == "ks":
        score = stats.ks_2samp(reference, current).pvalue
        drifted = score <= 0.05
    elif method == "chisquare":
        score = float(evidently_chisquare(Counter(reference), Counter(current))["chi_square_pvalue"])
        drifted = score < 0.05
    elif method == "z":
        keys = sorted(set(reference) | set(current))
        if len(set(reference)) == 1 and len(set(current)) == 1 and reference[0] == current[0]:
            score = 1.0
        else:
            n1, n2 = len(reference), len(current)
            p1 = float(sum(0 if x == keys[0] else 1 for x in reference)) / n1
            p2 = float(sum(0 if x == keys[0] else 1 for x in current)) / n2
            pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
            z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
            score = float(2 * stats.norm.sf(abs(z)))  # Evidently writes 2 (1 - cdf); sf is the same number without its rounding
        drifted = score < 0.05
    elif method == "wasserstein":
        score = stats.wasserstein_distance(reference, current) / max(np.std(reference), 0.001)
        drifted = score >= 0.1
    elif method == "jensenshannon":
        score = distance.jensenshannon(*evidently_binned(reference, current, numeric, False), 2)
        drifted = score >= 0.1
    elif method == "psi":
        rp, cp = evidently_binned(reference, current, numeric, True)
        score = float(np.sum((rp - cp) * np.log(rp / cp)))
        drifted = score >= 0.1
    return {"name": name, "method": method, "score": float(score), "drifted": bool(drifted)}


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

    # More distinct values than the exact cap (100,000) on both sides: the service compares histograms of the values
    # centred and scaled by the reference, and every gap to these figures must lie within the bound it reports.
    fixture["beyond_cap"] = [numeric_case(name, reference, current) for name, reference, current in [
        ("N(300, 3) unchanged, beyond the cap", spec("bell", 71, 150000, 300.0, sd3), spec("bell", 72, 120000, 300.0, sd3)),
        ("N(300, 3) shifted by 0.1 sigma, beyond the cap", spec("bell", 73, 150000, 300.0, sd3), spec("bell", 74, 120000, 300.3, sd3)),
        ("values near 1e-100 that triple, beyond the cap", spec("uniform", 75, 130000, 0.0, 1e-100), spec("uniform", 76, 110000, 0.0, 3e-100)),
        ("mean 1e6, spread 1e-3, shifted by 0.4 sigma, beyond the cap", spec("bell", 77, 140000, 1e6, 1e-3), spec("bell", 78, 120000, 1e6 + 2.3e-4, 1e-3)),
        ("heavy tail scaled by 1.05, beyond the cap", spec("pareto", 79, 150000, 0.0, 1.0), spec("pareto", 80, 120000, 0.0, 1.05)),
        ("values near -1e+100 spread by 1.2, beyond the cap", spec("uniform", 81, 120000, -1e100, 1e99), spec("uniform", 82, 110000, -1.01e100, 1.2e99)),
    ]]

    for reference, current in [
        ({"a": 50, "b": 50}, {"z1": 30, "z2": 20}),  # nothing in common
        ({"false": 400}, {"true": 300}),  # a boolean from all false to all true
        ({"a": 500, "b": 300, "c": 200}, {"a": 480, "b": 330, "c": 185, "d": 5}),  # a few values of a new label
        ({"a": 500, "b": 300, "c": 200}, {"a": 600, "b": 400}),  # a label gone: counted as an expected one not seen
        ({"a": 500, "b": 300, "c": 200}, {"a": 490, "b": 310, "c": 200}),
        ({"x": 700}, {"x": 650}),  # one category on both sides
    ]:
        fixture["categorical"].append(evidently_chisquare(reference, current))

    # Evidently's preset: its default test per column shape, its bins, its smoothing, its thresholds.
    fixture["evidently"] = []
    evidently_numeric = [
        ("KS: continuous, reference of 800", spec("bell", 51, 800, 300.0, sd3), spec("bell", 52, 900, 300.8, sd3), None),
        ("chi-square: four integer values", spec("integer", 53, 600, 2.0, 1.0), spec("integer", 54, 500, 2.0, 1.0), None),
        ("Z: two numbers", spec("bernoulli", 55, 700, 0.3, 0.0), spec("bernoulli", 56, 650, 0.36, 0.0), None),
        ("Z: two numbers, from the same rate", spec("bernoulli", 57, 700, 0.3, 0.0), spec("bernoulli", 58, 650, 0.3, 0.0), None),
        ("Wasserstein: reference of 3000", spec("bell", 59, 3000, -20.0, 7.0), spec("bell", 60, 2500, -19.5, 7.0), None),
        ("Jensen-Shannon on values: reference of 2000, three values", spec("integer", 61, 2000, 1.0, 0.9), spec("integer", 62, 1500, 1.2, 0.9), None),
        ("Jensen-Shannon, Sturges bins", spec("bell", 63, 3000, 5.0, 2.0), spec("bell", 64, 2000, 5.4, 2.0), "jensenshannon"),
        ("PSI, Sturges bins", spec("pareto", 65, 2500, 0.0, 1.0), spec("pareto", 66, 2400, 0.0, 1.15), "psi"),
        ("PSI on values: twelve integers", spec("integer", 67, 900, 6.0, 5.0), spec("integer", 68, 950, 6.5, 5.0), "psi"),
    ]
    for name, reference, current, method in evidently_numeric:
        case = evidently_case(name, column(reference), column(current), True, method)
        case.update({"reference": reference, "current": current, "kind": "numeric"})
        fixture["evidently"].append(case)
    for name, reference, current in [
        ("Z: two labels", {"no": 620, "yes": 380}, {"no": 540, "yes": 460}),
        ("Z: a boolean from all false to all true", {"false": 400}, {"true": 300}),
        ("chi-square: three labels", {"a": 500, "b": 300, "c": 180}, {"a": 480, "b": 330, "c": 185, "d": 5}),
        ("Jensen-Shannon: labels, reference of 3000", {"a": 1500, "b": 900, "c": 600}, {"a": 700, "b": 600, "c": 500, "d": 200}),
    ]:
        flat = lambda counts: [label for label, count in counts.items() for _ in range(count)]
        case = evidently_case(name, flat(reference), flat(current), False)
        case.update({"reference_labels": reference, "current_labels": current, "kind": "categorical"})
        fixture["evidently"].append(case)

    json.dump(fixture, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
