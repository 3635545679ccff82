"""The drift client against a real drift service.

Needs MODELOPS_DRIFT_TARGET (host:port) and MODELOPS_TOKEN (a pipeline token), as the .NET test that runs this module
provides; skipped without them.
"""

import os
import random
import time
import unittest
import uuid

import grpc

import modelops

CONFIGURED = bool(os.environ.get("MODELOPS_DRIFT_TARGET") and os.environ.get("MODELOPS_TOKEN"))
COLUMNS = {"income": "numeric", "region": "categorical", "owner": "boolean"}


def _applicants(rng, count, shift=0.0):
    for _ in range(count):
        income = rng.gauss(40_000 + shift, 8_000)
        yield {
            "income": None if rng.random() < 0.02 else income,
            "region": rng.choice(["north", "south", "east", "west"]),
            "owner": rng.random() < 0.4,
            "score": min(max(income / 80_000, 0.0), 1.0),
        }


@unittest.skipUnless(CONFIGURED, "MODELOPS_DRIFT_TARGET and MODELOPS_TOKEN are not set")
class DriftTest(unittest.TestCase):
    def setUp(self):
        self.drift = modelops.Drift()
        self.model = f"py-{uuid.uuid4().hex[:12]}"

    def tearDown(self):
        self.drift.close()

    def test_a_reference_traffic_column_by_column_and_late_labels_give_reports_that_flag_the_shift(self):
        rng = random.Random(11)
        reference = self.drift.set_reference(self.model, "1", {**COLUMNS, "score": "numeric"}, _applicants(rng, 3000),
                                             window_records=1000, prediction_column="score", task="binary", source="python test")
        self.assertEqual((3000, 1000), (reference.rows, reference.window.records))
        self.assertEqual(["income", "region", "owner", "score"], [c.name for c in reference.columns])

        # Three windows of 1000 records, sent column by column; income moves by 2.5 σ in the third.
        records = list(_applicants(rng, 2000)) + list(_applicants(rng, 1000, shift=20_000))
        ids = [f"req-{i}" for i in range(len(records))]
        # All at one instant: count windows are told apart by their numbers, not their starts.
        now = int(time.time() * 1000)
        accepted = self.drift.ingest(self.model, "1", {name: [r[name] for r in records] for name in ["income", "region", "owner", "score"]},
                                     timestamps=[now] * len(records), request_ids=ids)
        self.assertEqual(3000, accepted.accepted)

        reports = []
        deadline = time.monotonic() + 60
        while len(reports) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
            reports = list(self.drift.reports(self.model, "1", page_size=2))  # paged: two pages
        self.assertEqual(3, len(reports))
        newest_first = [[c.column for c in r.columns if c.drifted] for r in reports]
        self.assertEqual([["income"], [], []], newest_first)
        self.assertEqual([2, 1, 0], [r.count_window for r in reports])
        one = self.drift.report(self.model, "1", count_window=reports[0].count_window)
        self.assertEqual((reports[0].window_start, reports[0].rows, 2), (one.window_start, one.rows, one.count_window))
        self.assertEqual([(c.column, c.drifted) for c in reports[0].columns], [(c.column, c.drifted) for c in one.columns])
        self.assertIn("income", self.drift.render(self.model, "1", count_window=2))
        with self.assertRaises(ValueError):
            self.drift.report(self.model, "1")

        # Labels join their predictions by request id; the same labels again are counted as unmatched.
        labels = {request_id: record["score"] > 0.5 for request_id, record in zip(ids, records)}
        joined = self.drift.ingest_labels(self.model, "1", labels)
        self.assertEqual((3000, 0), (joined.matched, joined.unmatched))
        self.assertEqual((0, 3000), (lambda again: (again.matched, again.unmatched))(self.drift.ingest_labels(self.model, "1", labels)))

        self.assertIn(self.model, [m.model for m in self.drift.status(include_unwatched=True)])

    def test_refusals_raise_drift_errors_and_bad_batches_are_refused_before_sending(self):
        with self.assertRaises(modelops.DriftError) as refused:
            self.drift.get_reference(self.model, "1")
        self.assertEqual((grpc.StatusCode.NOT_FOUND, "REFERENCE_NOT_FOUND"), (refused.exception.code, refused.exception.reason))

        features = ({name: row[name] for name in COLUMNS} for row in _applicants(random.Random(3), 200))
        self.drift.set_reference(self.model, "1", COLUMNS, features)
        with self.assertRaises(ValueError):
            self.drift.ingest(self.model, "1", {"income": [1.0, 2.0], "region": ["north"]})
        with self.assertRaises(ValueError):
            self.drift.ingest(self.model, "1", {"salary": [1.0]})
        with self.assertRaises(ValueError):
            self.drift.set_reference(self.model, "1", {"income": "number"}, [])

        # A value of the wrong kind is the service's to refuse: it names the message, the record and the column.
        with self.assertRaises(modelops.DriftError) as wrong:
            self.drift.set_reference(self.model, "2", {"income": "numeric"}, [{"income": 1.0}, {"income": "high"}])
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, wrong.exception.code)
        self.assertTrue(any("rows[1]" in field for field, _ in wrong.exception.violations), wrong.exception.violations)


if __name__ == "__main__":
    unittest.main()
