"""The scipy side of the drift benchmark: the same data (splitmix64 per row index, as Program.cs), the same report.

Per numeric column scipy.stats.ks_2samp (its default method: asymptotic at these sizes) and PSI over the
reference's deciles with numpy; per categorical column scipy.stats.chisquare against the reference's shares.
Columns are generated one at a time, as in Program.cs, and generation is not timed. Prints JSON: seconds, peak RSS
(kB) and each numeric column's KS statistic, for the C# side to compare.
"""

import json
import resource
import sys
import time

import numpy as np
from scipy import stats

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def uniforms(seed, count):
    z = (np.uint64(seed) << np.uint64(32)) + np.arange(count, dtype=np.uint64) + GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def numeric(column, seed, count, shift):
    return uniforms(seed, count) * (1 + column % 5) + (column % 7) + shift


def labels(column, seed, count):
    return np.floor(uniforms(seed, count) ** 1.5 * (3 + column % 10)).astype(np.int64)


def main():
    n_ref, n_cur, n_num, n_cat = (int(a) for a in sys.argv[1:5])
    np.seterr(over="ignore")
    spent = 0.0
    ks = []
    for column in range(n_num):
        reference = numeric(column, 1000 + column, n_ref, 0.0)
        current = numeric(column, 5000 + column, n_cur, 0.05 if column < 2 else 0.0)
        start = time.perf_counter()
        result = stats.ks_2samp(reference, current)
        edges = np.quantile(reference, np.linspace(0.1, 0.9, 9))
        p = np.histogram(reference, np.concatenate(([-np.inf], edges, [np.inf])))[0] / n_ref
        q = np.histogram(current, np.concatenate(([-np.inf], edges, [np.inf])))[0] / n_cur
        p, q = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
        float(np.sum((q - p) * np.log(q / p)))
        spent += time.perf_counter() - start
        ks.append(float(result.statistic))
    for column in range(n_cat):
        reference = labels(column, 9000 + column, n_ref)
        current = labels(column, 13000 + column, n_cur)
        start = time.perf_counter()
        k = int(max(reference.max(), current.max())) + 1
        ref_counts = np.bincount(reference, minlength=k).astype(float)
        cur_counts = np.bincount(current, minlength=k).astype(float)
        seen = ref_counts > 0
        stats.chisquare(cur_counts[seen], ref_counts[seen] / ref_counts.sum() * cur_counts[seen].sum())
        spent += time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": spent, "peak_kb": peak, "ks": ks}))


if __name__ == "__main__":
    main()
