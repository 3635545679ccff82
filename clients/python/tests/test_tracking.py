"""The Python package against a real tracking service.

Needs MODELOPS_TRACKING_TARGET (host:port) and MODELOPS_TOKEN (a pipeline token), as the .NET test that runs this
suite provides; skipped without them.
"""

import base64
import datetime
import hashlib
import json
import math
import os
import random
import tempfile
import unittest
import uuid

import grpc

import modelops

UTC = datetime.timezone.utc
CONFIGURED = bool(os.environ.get("MODELOPS_TRACKING_TARGET") and os.environ.get("MODELOPS_TOKEN"))


@unittest.skipUnless(CONFIGURED, "MODELOPS_TRACKING_TARGET and MODELOPS_TOKEN are not set")
class TrackingTest(unittest.TestCase):
    def setUp(self):
        self.client = modelops.Client()
        self.experiment = f"py-{uuid.uuid4().hex}"
        self.directory = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.client.close()
        self.directory.cleanup()

    def test_a_run_logged_from_python_reads_back_identically(self):
        rng = random.Random(7)
        losses = [math.exp(-step / 2000) + rng.random() * 1e-3 for step in range(10_000)]
        artifact = os.path.join(self.directory.name, "model.bin")
        with open(artifact, "wb") as out:
            for _ in range(100):
                out.write(rng.randbytes(1 << 20))  # 100 MiB
        with open(artifact, "rb") as source:
            artifact_sha = hashlib.sha256(source.read()).hexdigest()
        snapshot = datetime.datetime(2026, 10, 1, tzinfo=UTC)
        provenance = {
            "container_digest": "sha256:" + "c" * 64, "sbom_ref": "s3://sbom/train.spdx.json", "train_image_version": "train:1.4.2",
            "dataset_id": "loans", "dataset_snapshot_at": snapshot, "dataset_hash": "sha256:" + "d" * 64,
            "feature_groups": ["bureau", "payments"], "data_time_range": (datetime.datetime(2025, 1, 1, tzinfo=UTC), snapshot),
            "pipeline_id": "credit-train", "job_id": "job-42", "orchestrator": "airflow", "seeds": {"numpy": 7, "torch": 11},
            "hyperparameters": {"max_depth": 6}, "split": {"train": 0.7, "validation": 0.15, "test": 0.15, "method": "time"},
            "egress_policy": "no-egress", "correlation_ids": {"ticket": "RISK-7"},
        }

        with modelops.start_run(self.experiment, run_name="gbm", tags={"team": "risk"}, provenance=provenance) as run:
            modelops.log_params({"learning_rate": 0.05, "n_estimators": 400})
            modelops.log_param("learning_rate", 0.05)  # the same value again is accepted
            for step, loss in enumerate(losses):
                modelops.log_metric("loss", loss, step=step, timestamp=1_700_000_000_000 + step)
            modelops.log_input("loans", hash="sha256:" + "d" * 64, snapshot_at=snapshot, feature_groups=["bureau", "payments"],
                               time_range=(datetime.datetime(2025, 1, 1, tzinfo=UTC), snapshot), source_uri="s3://lake/loans", context="training")
            modelops.set_tag("stage", "candidate")
            uploaded = modelops.log_artifact(artifact, "model/model.bin", "application/octet-stream")
            sha, remote = modelops.provenance.git_info()
            if not remote:  # a clone without a remote: fill in what detection could not
                run.set_provenance(repo_url="https://git.example.com/risk/credit.git")
            run_id = run.run_id

        self.assertEqual(artifact_sha, uploaded.sha256)
        read = self.client.get_run(run_id)
        self.assertEqual("RUN_STATUS_FINISHED", modelops.client.pb.RunStatus.Name(read.status))
        self.assertEqual({"learning_rate": "0.05", "n_estimators": "400"}, dict(read.params))
        self.assertEqual("candidate", read.tags["stage"])
        self.assertTrue(read.tags["modelops.hostname"])
        self.assertRegex(read.record_sha256, "^[0-9a-f]{64}$")

        history = self.client.get_metric_history(run_id, "loss")
        self.assertEqual(list(range(10_000)), [m.step for m in history])
        self.assertEqual(losses, [m.value for m in history])  # doubles round-trip exactly
        self.assertEqual([1_700_000_000_000 + s for s in range(10_000)], [m.timestamp for m in history])

        dataset = read.inputs[0]
        self.assertEqual(("loans", "sha256:" + "d" * 64, ["bureau", "payments"], "s3://lake/loans", "training"),
                         (dataset.dataset_id, dataset.hash, list(dataset.feature_groups), dataset.source_uri, dataset.context))
        self.assertEqual(snapshot, dataset.snapshot_at.ToDatetime().replace(tzinfo=UTC))

        report = self.client.get_provenance(run_id)
        self.assertEqual([], list(report.missing))  # git sha/remote, hardware and the command were filled in
        self.assertEqual(sha, report.provenance.git_sha)
        self.assertEqual({"numpy": 7, "torch": 11}, dict(report.provenance.seeds))
        self.assertEqual("max_depth", sorted(report.provenance.hyperparameters)[0])
        self.assertEqual(0.7, report.provenance.split.train)
        self.assertIn("python", report.provenance.entry_point)

        copy = os.path.join(self.directory.name, "copy.bin")
        record = self.client.download_artifact(run_id, "model/model.bin", copy)
        self.assertEqual((artifact_sha, 100 << 20), (record.sha256, record.size))
        with open(copy, "rb") as source:
            self.assertEqual(artifact_sha, hashlib.sha256(source.read()).hexdigest())
        self.assertEqual(["model/model.bin"], [a.path for a in self.client.list_artifacts(run_id, "model/")])

    def test_refusals_name_the_field_and_an_exception_fails_the_run(self):
        with self.assertRaises(ZeroDivisionError):
            with self.client.start_run(self.experiment) as run:
                run.log_param("depth", 4)
                with self.assertRaises(modelops.TrackingError) as refused:
                    run.log_param("depth", 5)
                self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, refused.exception.code)
                self.assertEqual("WRITE_ONCE", refused.exception.reason)
                self.assertEqual("params[0].value", refused.exception.violations[0][0])
                with self.assertRaises(modelops.TrackingError) as escaping:
                    run.log_artifact(__file__, "../outside.py")
                self.assertEqual("header.path", escaping.exception.violations[0][0])
                run.log_metric("loss", float("nan"), step=0)
                1 / 0
        failed = self.client.get_run(run.run_id)
        self.assertEqual("RUN_STATUS_FAILED", modelops.client.pb.RunStatus.Name(failed.status))
        self.assertIn("ZeroDivisionError", failed.tags["modelops.error"])
        self.assertTrue(math.isnan(self.client.get_metric_history(run.run_id, "loss")[0].value))

        with self.assertRaises(modelops.ModelOpsError) as unknown:
            self.client.get_run("0" * 32)
        self.assertEqual(grpc.StatusCode.NOT_FOUND, unknown.exception.code)
        self.assertEqual(("RUN_NOT_FOUND", "tracking.modelops"), (unknown.exception.reason, unknown.exception.domain))
        self.assertFalse(unknown.exception.retryable)

        ended = self.client.get_run(run.run_id)
        with self.assertRaises(modelops.ModelOpsError) as after_end:
            self.client.call("LogBatch", modelops.client.pb.LogBatchRequest(
                run_id=ended.run_id, params=[modelops.client.pb.Param(key="late", value="1")]))
        self.assertEqual(("RUN_ENDED", "RUN_STATE"), (after_end.exception.reason, after_end.exception.preconditions[0][0]))

    def test_a_bad_metric_is_reported_by_the_next_call(self):
        run = self.client.start_run(self.experiment, autofill=False, flush_interval=0.05)
        run.log_metric("", 1.0)
        with self.assertRaises(modelops.TrackingError) as bad:
            run.end()
        self.assertEqual("messages[0].metrics[0].key", bad.exception.violations[0][0])
        self.assertEqual("RUN_STATUS_FAILED", modelops.client.pb.RunStatus.Name(self.client.get_run(run.run_id).status))

    def test_a_token_another_stack_issued_is_explained(self):
        def jwt(payload):
            encode = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()
            header = encode(json.dumps({"alg": "HS256"}).encode())
            return f"{header}.{encode(json.dumps(payload).encode())}.c2ln"

        target = os.environ["MODELOPS_TRACKING_TARGET"]
        with modelops.Client(token=jwt({"iss": "http://127.0.0.1:7999/other-stack", "exp": 4102444800, "role": "pipeline"})) as foreign:
            with self.assertRaises(modelops.TrackingError) as refused:
                foreign.get_run("0" * 32)
        self.assertEqual(grpc.StatusCode.UNAUTHENTICATED, refused.exception.code)
        self.assertIn(f"{target} (from $MODELOPS_TRACKING_TARGET) refused the token from the token argument, "
                      "which was issued by http://127.0.0.1:7999/other-stack for pipeline", str(refused.exception))
        self.assertIn("may be another one's", refused.exception.hint)
        # Streams (an upload, a download) are explained as unary calls are.
        with modelops.Client(token=jwt({"iss": "http://127.0.0.1:7999/other-stack", "exp": 4102444800})) as foreign, tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.bin")
            with open(path, "wb") as file:
                file.write(b"weights")
            with self.assertRaises(modelops.TrackingError) as refused:
                foreign.upload_artifact("0" * 32, path, "model/model.bin")
            self.assertIn("refused the token from the token argument", refused.exception.hint)
            with self.assertRaises(modelops.TrackingError) as refused:
                foreign.download_artifact("0" * 32, "model/model.bin", os.path.join(folder, "copy.bin"))
            self.assertIn("refused the token from the token argument", refused.exception.hint)
        with modelops.Client(token=jwt({"iss": "http://127.0.0.1:7999/other-stack", "exp": 1700000000})) as expired:
            with self.assertRaises(modelops.TrackingError) as refused:
                expired.get_run("0" * 32)
        self.assertIn("it expired at 2023-11-14 22:13:20Z", refused.exception.hint)


class ProvenanceTest(unittest.TestCase):
    def test_detects_git_and_the_machine(self):
        fields = modelops.provenance.detect(os.path.dirname(__file__))
        self.assertRegex(fields["hardware"], r"^\d+ x .+; (no GPU|GPU: .+)$")
        self.assertTrue(fields["entry_point"])
        if "git_sha" in fields:
            self.assertRegex(fields["git_sha"], "^[0-9a-f]{40}(-dirty)?$")

    def test_provenance_message_converts_times_and_maps(self):
        when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        message = modelops.provenance_message({"git_sha": "abc", "dataset_snapshot_at": when, "seeds": {"numpy": "7"}, "data_time_range": (when, when)})
        self.assertEqual(("abc", 7), (message.git_sha, message.seeds["numpy"]))
        self.assertEqual(when, message.dataset_snapshot_at.ToDatetime().replace(tzinfo=UTC))
        with self.assertRaises(ValueError):
            modelops.provenance_message({"dataset_snapshot_at": datetime.datetime(2026, 1, 1)})


if __name__ == "__main__":
    unittest.main()
