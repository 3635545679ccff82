"""The input streams of river's published detector examples, regenerated exactly (Python's and NumPy's seeded
generators are stable across versions), so the C# detectors can be checked against the indices river publishes.

Run with Debian's Python 3.11 and NumPy 1.24:
    /usr/bin/python3 tests/ModelOps.Unit.Tests/Fixtures/make_river_streams.py > tests/ModelOps.Unit.Tests/Fixtures/river_streams.json

The expected indices are not computed here: they are river's own, quoted in DetectorTests with their source files.
"""
import json
import random

import numpy as np

streams = {}

# river/drift/adwin.py and river/drift/page_hinkley.py docstrings: two distributions.
rng = random.Random(12345)
streams["two_distributions_12345"] = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)

# river/drift/binary/ddm.py docstring: an error rate that rises from 0.5 to 0.7.
rng = random.Random(42)
stream = rng.choices([0, 1], k=1000)
streams["error_rate_rise_42"] = stream + rng.choices([0, 1], k=1000, weights=[0.3, 0.7])

# river/drift/test_adwin_regression.py, test_multiple_drifts: four segments.
rng = random.Random(42)
streams["four_segments_42"] = (
    rng.choices([0, 1], k=1000)
    + rng.choices(range(4, 8), k=1000)
    + rng.choices([0, 1], k=1000)
    + rng.choices(range(4, 8), k=1000)
)

# river/drift/test_adwin_regression.py, test_basic_drift_at_expected_index: NumPy's legacy generator.
np.random.seed(12345)
streams["numpy_two_distributions_12345"] = [int(v) for v in np.concatenate((np.random.randint(2, size=1000), np.random.randint(8, size=1000)))]

print(json.dumps(streams, separators=(",", ":")))
