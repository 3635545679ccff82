"""The alerting client against a real alerting service (AlertingServiceTests runs it).

MODELOPS_ALERTING_TARGET names the service, MODELOPS_TOKEN a reviewer's token, MODELOPS_TEST_PIPELINE_TOKEN a pipeline's.
"""

import os
import unittest
import uuid

import grpc

import modelops
from modelops.alerting_client import matcher, pb


class MatcherTest(unittest.TestCase):
    def test_parses_alertmanagers_matchers_by_their_first_operator(self):
        parsed = [(m.name, m.type, m.value) for m in map(matcher, ['model="credit"', 'severity=~"warn.*"', 'team!="ml"', 'x!~"a"', 'note!="a=~b"', 'q="say \\"hi\\""'])]
        self.assertEqual([("model", pb.MATCHER_TYPE_EQUAL, "credit"), ("severity", pb.MATCHER_TYPE_REGEXP, "warn.*"),
                          ("team", pb.MATCHER_TYPE_NOT_EQUAL, "ml"), ("x", pb.MATCHER_TYPE_NOT_REGEXP, "a"),
                          ("note", pb.MATCHER_TYPE_NOT_EQUAL, "a=~b"), ("q", pb.MATCHER_TYPE_EQUAL, 'say "hi"')], parsed)
        with self.assertRaises(ValueError):
            matcher("no operator")


class AlertingTest(unittest.TestCase):
    def setUp(self):
        self.reviewer = modelops.Alerting()
        self.pipeline = modelops.Alerting(token=os.environ["MODELOPS_TEST_PIPELINE_TOKEN"])

    def tearDown(self):
        self.reviewer.close()
        self.pipeline.close()

    def test_a_reviewer_silences_and_expires_a_pipeline_may_not(self):
        model = f"py-{uuid.uuid4().hex[:8]}"
        with self.assertRaises(modelops.AlertingError) as refused:
            self.pipeline.add_silence([f'model="{model}"'], hours=1, comment="maintenance")
        self.assertEqual(grpc.StatusCode.PERMISSION_DENIED, refused.exception.code)

        silence = self.reviewer.add_silence([f'model="{model}"', 'severity=~"warn.*"'], hours=1, comment="maintenance")
        self.assertEqual(("active", "maintenance"), (silence.state, silence.comment))
        self.assertEqual(silence.silence_id, self.reviewer.silence(silence.silence_id).silence_id)
        self.assertIn(silence.silence_id, [s.silence_id for s in self.reviewer.silences(active=True)])
        self.assertEqual("expired", self.reviewer.expire_silence(silence.silence_id).state)
        self.assertNotIn(silence.silence_id, [s.silence_id for s in self.reviewer.silences(active=True)])

    def test_a_silence_without_matchers_is_refused_naming_the_field(self):
        with self.assertRaises(modelops.AlertingError) as refused:
            self.reviewer.add_silence([], hours=1, comment="x")
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, refused.exception.code)
        self.assertIn("matchers", [field for field, _ in refused.exception.violations])
        self.assertIsInstance(refused.exception, modelops.ModelOpsError)

    def test_reads_the_configuration_alerts_deliveries_and_retraining(self):
        config = self.pipeline.config()
        self.assertGreaterEqual(config.version, 1)
        self.assertRegex(config.sha256, "^[0-9a-f]{64}$")
        self.assertEqual([], list(self.pipeline.alerts(filter=[f'model="absent-{uuid.uuid4().hex[:8]}"'])))
        self.assertEqual([], list(self.pipeline.deliveries(receiver=f"absent-{uuid.uuid4().hex[:8]}")))
        self.assertEqual([], list(self.pipeline.retrain_requests(model=f"absent-{uuid.uuid4().hex[:8]}")))


if __name__ == "__main__":
    unittest.main()
