"""Reference values for the drift statistics, computed with scipy and numpy (Debian's python3-scipy 1.10, python3-numpy).

    /usr/bin/python3 tests/ModelOps.Unit.Tests/Fixtures/make_fixtures.py > tests/ModelOps.Unit.Tests/Fixtures/scipy.json

Small samples are written out; large ones are generated on both sides by the same integer generator (xorshift64*),
whose doubles are exact in both languages, so the fixture stays small.
"""

import json

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

MASK = (1 << 64) - 1


def uniforms(seed, count):
    """xorshift64* → doubles in [0, 1) with 53 random bits (the C# tests use the same generator)."""
    state = seed & MASK or 1
    out = []
    for _ in range(count):
        state ^= state >> 12
        state ^= (state << 25) & MASK
        state ^= state >> 27
        value = (state * 0x2545F4914F6CDD1D) & MASK
        out.append((value >> 11) * (1.0 / (1 << 53)))
    return np.array(out)


def rounded(values):
    return [round(float(v), 6) for v in values]


def main():
    rng = np.random.default_rng(20261123)
    fixture = {"scipy": scipy.__version__, "numpy": np.__version__}

    # Two-sample KS, exact p-values (scipy's method='exact'): equal and unequal sizes, ties, identical samples.
    cases = []
    shapes = [(5, 5, 0.0), (8, 13, 0.5), (30, 30, 0.3), (50, 80, 0.0), (100, 37, 1.0), (250, 300, 0.2), (1000, 1200, 0.1)]
    for n1, n2, shift in shapes:
        a = rounded(rng.normal(0, 1, n1))
        b = rounded(rng.normal(shift, 1, n2))
        cases.append((a, b))
    ties_a = [float(v) for v in rng.integers(0, 6, 40)]
    ties_b = [float(v) for v in rng.integers(1, 7, 55)]
    cases.append((ties_a, ties_b))
    same = rounded(rng.normal(0, 1, 20))
    cases.append((same, list(same)))
    fixture["ks_exact"] = []
    for a, b in cases:
        result = stats.ks_2samp(a, b, method="exact")
        fixture["ks_exact"].append({"a": a, "b": b, "statistic": float(result.statistic), "pvalue": float(result.pvalue)})

    # Large samples: ks_2samp's asymptotic p-value, the one-sample distribution of D_n (kstwo) with
    # n = round(n1 n2 / (n1 + n2)); small windows against large references reach kstwo's small-n methods.
    fixture["ks_asymptotic"] = []
    for seed_a, seed_b, n1, n2, shift in [(1, 2, 12000, 11000, 0.0), (3, 4, 20000, 15000, 0.015), (5, 6, 30000, 30000, 0.03),
                                          (7, 8, 20000, 40, 0.1), (9, 10, 15000, 120, 0.12), (11, 12, 50000, 400, 0.05),
                                          (13, 14, 12000, 3000, 0.002), (15, 16, 11000, 11000, 0.2)]:
        a = uniforms(seed_a, n1)
        b = uniforms(seed_b, n2) + shift
        result = stats.ks_2samp(a, b, method="asymp")
        fixture["ks_asymptotic"].append({
            "seed_a": seed_a, "seed_b": seed_b, "n1": n1, "n2": n2, "shift": shift,
            "statistic": float(result.statistic), "pvalue": float(result.pvalue),
        })
    # kstwo itself, on every method Simard and L'Ecuyer choose between (by n and n x^2).
    fixture["kstwo_sf"] = [{"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))} for n, x in [
        (1, 0.3), (5, 0.05), (5, 0.15), (10, 0.95), (10, 0.6), (20, 0.1), (20, 0.3), (20, 0.55), (60, 0.16), (60, 0.3),
        (100, 0.05), (140, 0.12), (141, 0.05), (500, 0.02), (500, 0.08), (2000, 0.01), (2000, 0.04), (20000, 0.005),
        (90000, 0.004), (90000, 0.002), (150000, 0.004), (150000, 0.0015), (400000, 0.003)]]

    # Wasserstein (earth mover's) distance between samples.
    fixture["wasserstein"] = []
    for a, b in cases[:6] + [(ties_a, ties_b)]:
        fixture["wasserstein"].append({"a": a, "b": b, "distance": float(stats.wasserstein_distance(a, b)),
                                       "reference_std": float(np.std(a))})

    # Categorical: counts of a reference and a current window over the same categories.
    fixture["categorical"] = []
    for reference, current in [
        ([500, 300, 200], [480, 330, 190]),
        ([500, 300, 200], [200, 300, 500]),
        ([1000, 10, 5, 1], [900, 60, 30, 10]),
        ([25, 25, 25, 25], [20, 30, 22, 28]),
        ([7000, 2000, 900, 100], [6400, 2500, 1000, 100]),
    ]:
        ref = np.array(reference, dtype=float)
        cur = np.array(current, dtype=float)
        expected = ref / ref.sum() * cur.sum()
        chi = stats.chisquare(cur, expected)
        p, q = ref / ref.sum(), cur / cur.sum()
        # PSI with zero-bin smoothing: a share of 0 counts as 0.0001.
        ps, qs = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
        fixture["categorical"].append({
            "reference": reference, "current": current,
            "chi_square": float(chi.statistic), "chi_square_pvalue": float(chi.pvalue),
            "jensen_shannon": float(distance.jensenshannon(p, q)),
            "psi": float(np.sum((qs - ps) * np.log(qs / ps))),
            "total_variation": float(0.5 * np.abs(p - q).sum()),
        })

    json.dump(fixture, __import__("sys").stdout, indent=1)


if __name__ == "__main__":
    main()
