"""ModelOps tracking, registry, drift, fairness, explainability and alerting for Python pipelines.

    import modelops

    with modelops.start_run("credit-scoring", run_name="gbm") as run:
        run.log_params({"learning_rate": 0.05, "depth": 6})
        for step, loss in enumerate(losses):
            run.log_metric("loss", loss, step=step)      # batched in the background
        run.log_input("loans", hash="sha256:...", snapshot_at=snapshot)
        run.log_artifact("model.onnx", "model/model.onnx")

The module-level functions act on the innermost run started with modelops.start_run.
"""

from modelops.alerting_client import Alerting
from modelops.client import ActiveRun, Client, provenance_message
from modelops.drift_client import Drift
from modelops.errors import AlertingError, DriftError, ExplainabilityError, FairnessError, ModelOpsError, RegistryError, TrackingError
from modelops.explainability_client import Explainability
from modelops.fairness_client import Fairness
from modelops.registry_client import Registry
from modelops.stack import Stack, find as find_stack

__all__ = [
    "ActiveRun", "Alerting", "AlertingError", "Client", "Drift", "DriftError", "Explainability", "ExplainabilityError", "Fairness", "FairnessError", "ModelOpsError",
    "Registry", "RegistryError", "Stack", "TrackingError", "active_run", "find_stack", "log_artifact", "log_input", "log_metric", "log_metrics",
    "log_param", "log_params", "provenance_message", "set_tag", "start_run",
]

_default_client = None
_stack = []


class _Scoped:
    """Keeps the run on the module's stack while its with-block runs."""

    def __init__(self, run):
        self.run = run

    def __enter__(self):
        _stack.append(self.run)
        return self.run

    def __exit__(self, exc_type, exc, tb):
        _stack.remove(self.run)
        return self.run.__exit__(exc_type, exc, tb)


def start_run(experiment, run_name="", tags=None, provenance=None, client=None, **options):
    """Starts a run (see Client.start_run) on client, or on a client configured from the environment."""
    global _default_client
    if client is None:
        _default_client = _default_client or Client()
        client = _default_client
    return _Scoped(client.start_run(experiment, run_name=run_name, tags=tags, provenance=provenance, **options))


def active_run():
    if not _stack:
        raise RuntimeError("no run is active: use `with modelops.start_run(...)`")
    return _stack[-1]


def log_param(key, value):
    active_run().log_param(key, value)


def log_params(params):
    active_run().log_params(params)


def log_metric(key, value, step=0, timestamp=None):
    active_run().log_metric(key, value, step, timestamp)


def log_metrics(metrics, step=0, timestamp=None):
    active_run().log_metrics(metrics, step, timestamp)


def set_tag(key, value):
    active_run().set_tag(key, value)


def log_input(dataset_id, hash, **fields):
    active_run().log_input(dataset_id, hash, **fields)


def log_artifact(file, artifact_path=None, content_type=""):
    return active_run().log_artifact(file, artifact_path, content_type)
