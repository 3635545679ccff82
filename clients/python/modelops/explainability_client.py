"""The explainability client: why a registered model decided as it did, and what drives it over a dataset.

    import modelops

    explain = modelops.Explainability()
    explanation = explain.explain("credit-scoring", version.version, [{"income": 2300, "debt_ratio": 0.61}], top_k=3)
    for row in explanation.rows:
        print(row.prediction, row.decision, [(r.display_name, r.attribution) for r in row.reasons])
    report = explain.importance("credit-scoring", version.version, run.run_id, "eval.csv")
    print({f.feature: f.mean_abs for f in report.features[:5]})
    html = explain.html(version.model, version.version, [applicant])     # waterfall and reason codes
"""

import math

from modelops.errors import Connection, ExplainabilityError
from modelops.explainability.v1 import explainability_pb2 as pb
from modelops.explainability.v1 import explainability_pb2_grpc


def _row(row, row_id=""):
    """A row: a dict of feature -> value (a feature left out, None or NaN is missing), or values in the model's order."""
    if isinstance(row, dict):
        return pb.Row(id=row_id, named={k: (math.nan if v is None else float(v)) for k, v in row.items()})
    return pb.Row(id=row_id, values=[math.nan if v is None else float(v) for v in row])


def _dataset(dataset, id_column=""):
    """A run's dataset artifact given as (run_id, artifact_path), or None."""
    if dataset is None:
        return None
    run_id, artifact_path = dataset
    return pb.Dataset(run_id=run_id, artifact_path=artifact_path, id_column=id_column)


def _request(model, version, rows, ids, top_k, threshold, background):
    ids = list(ids) if ids is not None else [""] * len(rows)
    request = pb.ExplainRequest(model=pb.ModelRef(model=model, version=int(version)), top_k=top_k,
                                rows=[_row(row, row_id) for row, row_id in zip(rows, ids)], background=_dataset(background))
    if threshold is not None:
        request.threshold = threshold
    return request


class Explainability(Connection):
    """A connection to the explainability service.

    target defaults to $MODELOPS_EXPLAINABILITY_TARGET (host:port, plaintext HTTP/2), token to $MODELOPS_TOKEN. Refusals
    raise ExplainabilityError with the gRPC status, the reason code and, for bad input, the fields at fault (the row, the column).
    """

    error_type = ExplainabilityError

    def __init__(self, target=None, token=None, channel=None):
        super().__init__(explainability_pb2_grpc.ExplainabilityServiceStub, target, token, channel, "MODELOPS_EXPLAINABILITY_TARGET", "127.0.0.1:7105")

    def describe(self, model, version):
        """The version's model: format, objective, features (the order values follow), trees and base value."""
        return self.call("DescribeModel", pb.DescribeModelRequest(model=pb.ModelRef(model=model, version=int(version))))

    def explain(self, model, version, rows, ids=None, top_k=0, threshold=None, background=None):
        """Exact SHAP values (margin space), prediction, decision and reason codes of up to 1000 rows.

        background: (run_id, artifact_path) of rows whose counts stand in for covers, for a model that keeps none (ML.NET)."""
        return self.call("Explain", _request(model, version, rows, ids, top_k, threshold, background))

    def html(self, model, version, rows, ids=None, top_k=0, threshold=None, background=None):
        """Up to 20 rows as a self-contained HTML page: a waterfall and the reason codes of each."""
        return self.call("RenderExplanation", _request(model, version, rows, ids, top_k, threshold, background)).html

    def explain_dataset(self, model, version, run_id, artifact_path, id_column="", batch_size=0, top_k=0, threshold=None, background=None):
        """Every row of a run's CSV or Parquet artifact, explained and streamed: yields RowExplanation in the file's order.
        A model that keeps no covers takes the dataset itself as its background unless one is given."""
        request = pb.ExplainDatasetRequest(model=pb.ModelRef(model=model, version=int(version)), batch_size=batch_size, top_k=top_k,
                                           dataset=_dataset((run_id, artifact_path), id_column), background=_dataset(background))
        if threshold is not None:
            request.threshold = threshold
        for batch in self.stream("ExplainDataset", request):
            yield from batch.rows

    def importance(self, model, version, run_id, artifact_path, background=None):
        """Computes and stores the global importance of the version's features on a run's dataset; report.weights are
        the normalised mean |SHAP| a drift monitoring policy's importance takes. background as in explain_dataset."""
        return self.call("ComputeImportance", pb.ComputeImportanceRequest(
            model=pb.ModelRef(model=model, version=int(version)), dataset=_dataset((run_id, artifact_path)), background=_dataset(background)))

    def importance_html(self, report_id):
        """An importance report as a self-contained HTML page (bars and beeswarm)."""
        return self.call("RenderImportance", pb.GetImportanceRequest(id=report_id)).html

    def attribution_windows(self, model, version):
        """The version's production windows judged for attribution drift, newest first."""
        return list(self.call("ListAttributionWindows", pb.ListImportanceRequest(model=model, version=int(version))).windows)

    def explain_decision(self, model, request_id, top_k=0):
        """What the model decided for a request, and why: each decision its decision log kept for the request id (one per
        version that scored it), explained by the version that made it; `reproduced` says whether the registered model
        computes the logged score from the logged values. Auditors, admins and services only."""
        return list(self.call("ExplainDecision", pb.ExplainDecisionRequest(model=model, request_id=request_id, top_k=top_k)).decisions)

    def set_dictionary(self, model, entries):
        """Replaces the model's feature dictionary: {feature: (readable name, description)}."""
        return self.call("SetFeatureDictionary", pb.SetFeatureDictionaryRequest(model=model, entries=[
            pb.FeatureEntry(feature=feature, display_name=name, description=description) for feature, (name, description) in entries.items()]))
