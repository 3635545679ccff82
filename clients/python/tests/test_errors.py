"""Each service's client raises its own error type, under one base: no server needed (nothing listens on the port)."""

import socket
import unittest

import grpc

import modelops


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ErrorTypesTest(unittest.TestCase):
    def test_each_client_raises_its_services_error_type(self):
        target = f"127.0.0.1:{_closed_port()}"
        cases = [
            (modelops.Client, modelops.TrackingError, lambda c: c.get_run("0" * 32)),
            (modelops.Registry, modelops.RegistryError, lambda c: c.register_version("credit", "0" * 32, "model/model.bin")),
            (modelops.Drift, modelops.DriftError, lambda c: list(c.reports("credit", "1"))),
            (modelops.Fairness, modelops.FairnessError, lambda c: c.call("GetReport", modelops.fairness_client.pb.GetReportRequest())),
            (modelops.Explainability, modelops.ExplainabilityError,
             lambda c: c.call("DescribeModel", modelops.explainability_client.pb.DescribeModelRequest())),
        ]
        for client_type, error_type, call in cases:
            with self.subTest(client=client_type.__name__), client_type(target=target, token="t") as client:
                with self.assertRaises(modelops.ModelOpsError) as refused:
                    call(client)
                self.assertIs(error_type, type(refused.exception))
                self.assertEqual(grpc.StatusCode.UNAVAILABLE, refused.exception.code)
                self.assertTrue(refused.exception.retryable)
                # A registry refusal is not a tracking one (it was, before each service had its own type).
                others = {modelops.TrackingError, modelops.RegistryError, modelops.DriftError, modelops.FairnessError, modelops.ExplainabilityError} - {error_type}
                self.assertFalse(any(isinstance(refused.exception, other) for other in others))


if __name__ == "__main__":
    unittest.main()
