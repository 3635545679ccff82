"""The fairness client: a pipeline's evaluation data judged group by group, and mitigations to apply.

    import modelops

    fairness = modelops.Fairness()
    report = fairness.evaluate("credit-scoring", version.version, run.run_id, "eval.csv", label="default",
                               score="score", sensitive=["sex", "age_band"], privileged={"sex": "M"})
    for grouping in report.groupings:
        ratio = fairness.disparity(grouping, "demographic_parity_ratio")
        print(grouping.name, ratio.value, (ratio.lower, ratio.upper))
    mitigation = fairness.mitigate("credit-scoring", version.version, run.run_id, "eval.csv", label="default",
                                   score="score", sensitive=["sex"], constraint="demographic_parity")
    thresholds = fairness.thresholds(mitigation)          # {("F",): 0.41, ("M",): 0.5}
"""

import json

from modelops.errors import Connection, FairnessError
from modelops.fairness.v1 import fairness_pb2 as pb
from modelops.fairness.v1 import fairness_pb2_grpc

_CONSTRAINTS = {"demographic_parity": pb.CONSTRAINT_DEMOGRAPHIC_PARITY, "equalized_odds": pb.CONSTRAINT_EQUALIZED_ODDS}
_METHODS = {"thresholds": pb.MITIGATION_METHOD_THRESHOLDS, "reweighing": pb.MITIGATION_METHOD_REWEIGHING}


def _dataset(run_id, artifact_path, label, sensitive, score=None, prediction=None, threshold=None, regression=False):
    dataset = pb.Dataset(run_id=run_id, artifact_path=artifact_path, label_column=label, score_column=score or "",
                         prediction_column=prediction or "", sensitive_columns=list(sensitive),
                         task=pb.MODEL_TASK_REGRESSION if regression else pb.MODEL_TASK_BINARY_CLASSIFICATION)
    if threshold is not None:
        dataset.threshold = threshold
    return dataset


class Fairness(Connection):
    """A connection to the fairness service.

    target defaults to $MODELOPS_FAIRNESS_TARGET (host:port, plaintext HTTP/2), token to $MODELOPS_TOKEN. Refusals raise
    FairnessError with the gRPC status, the reason code and, for bad input, the fields at fault (the column, the row).
    """

    error_type = FairnessError

    def __init__(self, target=None, token=None, channel=None):
        super().__init__(fairness_pb2_grpc.FairnessServiceStub, target, token, channel, "MODELOPS_FAIRNESS_TARGET", "127.0.0.1:7104")

    def evaluate(self, model, version, run_id, artifact_path, label, sensitive, score=None, prediction=None, threshold=None,
                 privileged=None, min_group_size=0, resamples=0, seed=0, confidence=0.0, regression=False):
        """Evaluates a CSV or Parquet artifact of a finished run: per-group metrics of every grouping of the sensitive
        columns and their disparities with bootstrap intervals, stored as the version's latest report (which the
        registry's fairness.* gates read)."""
        settings = pb.Settings(min_group_size=min_group_size, resamples=resamples, seed=seed, confidence=confidence,
                               privileged=dict(privileged or {}))
        return self.call("EvaluateDataset", pb.EvaluateDatasetRequest(
            model=model, version=str(version), settings=settings,
            dataset=_dataset(run_id, artifact_path, label, sensitive, score, prediction, threshold, regression)))

    def report(self, report_id):
        return self.call("GetReport", pb.GetReportRequest(id=report_id))

    def html(self, report_id):
        """The report as a self-contained HTML page."""
        return self.call("RenderReport", pb.GetReportRequest(id=report_id)).html

    def reports(self, model, version):
        """The version's dataset reports, newest first (their groups left out: report() has them)."""
        return list(self.call("ListReports", pb.ListReportsRequest(model=model, version=str(version))).reports)

    def window_reports(self, model, version):
        """The version's production windows, newest first: report.window.biased says whether one crossed the limits."""
        return list(self.call("ListWindowReports", pb.ListReportsRequest(model=model, version=str(version))).reports)

    def mitigate(self, model, version, run_id, artifact_path, label, sensitive, score=None, method="thresholds",
                 constraint="demographic_parity", tolerance=None, min_group_size=0):
        """Per-group thresholds (for demographic_parity or equalized_odds, within tolerance) or reweighing weights,
        computed on the dataset, with accuracy and disparity before and after; mitigation.artifact is the JSON file to
        log in the pipeline's run."""
        request = pb.MitigateRequest(model=model, version=str(version), method=_METHODS[method], constraint=_CONSTRAINTS[constraint],
                                     min_group_size=min_group_size, dataset=_dataset(run_id, artifact_path, label, sensitive, score))
        if tolerance is not None:
            request.tolerance = tolerance
        return self.call("Mitigate", request)

    @staticmethod
    def disparity(grouping, name):
        """One disparity of a grouping, by name (demographic_parity_ratio, equalized_odds_difference, ...)."""
        return next(d for d in grouping.disparities if d.name == name)

    @staticmethod
    def thresholds(mitigation):
        """A thresholds mitigation as {values of the sensitive columns (a tuple, None for missing): threshold (None: select none)}."""
        document = json.loads(mitigation.artifact)
        columns = document["columns"]
        return {tuple(g["group"][c] for c in columns): None if g["select_none"] else g["threshold"] for g in document["groups"]}
