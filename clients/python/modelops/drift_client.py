"""The drift client: a version's reference data, its production traffic column by column, late labels, and reports.

    import modelops

    drift = modelops.Drift()
    drift.set_reference("credit-scoring", "3", {"income": "numeric", "region": "categorical", "owner": "boolean"},
                        rows, window_records=2000, prediction_column="score", task="binary")
    drift.ingest("credit-scoring", "3", {"income": incomes, "region": regions, "owner": owners, "score": scores},
                 request_ids=ids)                  # timestamps default to now
    drift.ingest_labels("credit-scoring", "3", {"req-1": True, "req-2": False})
    for report in drift.reports("credit-scoring", "3"):
        print(report.window_start.ToDatetime(), [c.column for c in report.columns if c.drifted])

Values that are None (or NaN, ±inf for numbers, "" for labels) are missing. Refusals raise DriftError with the gRPC
status, the reason code and, for bad input, the fields at fault (the message, the record, the column).
"""

import math
import time

from google.protobuf import struct_pb2, timestamp_pb2

from modelops.drift.v1 import drift_pb2 as pb
from modelops.drift.v1 import drift_pb2_grpc
from modelops.errors import Connection, DriftError

_KINDS = {"numeric": pb.COLUMN_KIND_NUMERIC, "categorical": pb.COLUMN_KIND_CATEGORICAL, "boolean": pb.COLUMN_KIND_BOOLEAN}
_TASKS = {None: pb.MODEL_TASK_UNSPECIFIED, "binary": pb.MODEL_TASK_BINARY_CLASSIFICATION, "regression": pb.MODEL_TASK_REGRESSION}

#: Most rows, records or labels one message carries (the service's bound).
PER_MESSAGE = 10_000


def _kind(kind):
    try:
        return _KINDS[kind.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"{kind!r} is not a column kind: one of {', '.join(_KINDS)}") from None


def _task(task):
    try:
        return _TASKS[task.lower() if isinstance(task, str) else task]
    except KeyError:
        raise ValueError(f"{task!r} is not a task: binary or regression") from None


def _window(window_records, window_seconds, lateness_seconds):
    if window_records is not None and window_seconds is not None:
        raise ValueError("give window_records or window_seconds, not both")
    window = pb.WindowPolicy(allowed_lateness_seconds=lateness_seconds or 0)
    if window_records is not None:
        window.records = window_records
    elif window_seconds is not None:
        window.seconds = window_seconds
    return window if window.WhichOneof("size") or lateness_seconds else None


def _value(value):
    """A google.protobuf.Value: None is missing, a bool a bool, a number a number, anything else its text."""
    if value is None:
        return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    if isinstance(value, (int, float)):
        return struct_pb2.Value(number_value=float(value))
    return struct_pb2.Value(string_value=str(value))


def _column(name, values, kind):
    """A BatchColumn of one kind; None marks a missing value."""
    values = list(values)
    column = pb.BatchColumn(name=name)
    missing = [v is None for v in values]
    if kind == pb.COLUMN_KIND_NUMERIC:
        column.numbers.extend(math.nan if v is None else float(v) for v in values)
    elif kind == pb.COLUMN_KIND_BOOLEAN:
        column.flags.extend(bool(v) for v in values)
    else:
        column.labels.extend("" if v is None else str(v) for v in values)
    if any(missing):
        column.missing.extend(missing)
    return column


def _chunks(items, size=PER_MESSAGE):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _window_request(model, version, window_start, count_window):
    if (window_start is None) == (count_window is None):
        raise ValueError("name the window by window_start or by count_window (one of them)")
    if count_window is not None:
        return pb.GetWindowReportRequest(model=model, version=version, count_window=int(count_window))
    return pb.GetWindowReportRequest(model=model, version=version, window_start=_timestamp(window_start))


class Drift(Connection):
    """A connection to the drift service.

    target defaults to $MODELOPS_DRIFT_TARGET (host:port, plaintext HTTP/2), token to $MODELOPS_TOKEN (a pipeline token
    sets references; a service or pipeline token sends traffic and labels). Refusals raise DriftError.
    """

    error_type = DriftError

    def __init__(self, target=None, token=None, channel=None):
        super().__init__(drift_pb2_grpc.DriftServiceStub, target, token, channel, "MODELOPS_DRIFT_TARGET", "127.0.0.1:7103",
                         options=[("grpc.max_receive_message_length", 8 << 20)])
        self._kinds = {}

    # -------------------------------------------------------------- references

    def set_reference(self, model, version, columns, rows, window_records=None, window_seconds=None, lateness_seconds=0,
                      source="", prediction_column="", task=None, decision_threshold=0.0):
        """Profiles rows (dicts of column name to value) as the version's reference. columns maps each column to its
        kind (numeric, categorical, boolean), in order; windows are hourly unless window_records or window_seconds says
        otherwise. Returns the Reference with its per-column summary."""
        header = pb.ReferenceHeader(model=model, version=version, source=source, prediction_column=prediction_column,
                                    task=_task(task), decision_threshold=decision_threshold,
                                    columns=[pb.Column(name=name, kind=_kind(kind)) for name, kind in columns.items()])
        window = _window(window_records, window_seconds, lateness_seconds)
        if window is not None:
            header.window.CopyFrom(window)

        def messages():
            yield pb.SetReferenceRequest(header=header)
            for chunk in _chunks(rows):
                yield pb.SetReferenceRequest(rows=pb.RowBatch(rows=[
                    pb.Row(values={name: _value(value) for name, value in row.items()}) for row in chunk]))

        reference = self.invoke(self.stub.SetReference, messages())
        self._remember(reference)
        return reference

    def set_reference_from_artifact(self, model, version, run_id, artifact_path, columns=None, window_records=None,
                                    window_seconds=None, lateness_seconds=0, prediction_column="", task=None,
                                    decision_threshold=0.0):
        """Profiles a CSV or Parquet artifact of a finished run as the reference (its bytes checked against tracking's
        SHA-256); columns optionally gives some kinds, the others are inferred."""
        request = pb.SetReferenceFromArtifactRequest(
            model=model, version=version, run_id=run_id, artifact_path=artifact_path, prediction_column=prediction_column,
            task=_task(task), decision_threshold=decision_threshold,
            columns=[pb.Column(name=name, kind=_kind(kind)) for name, kind in (columns or {}).items()])
        window = _window(window_records, window_seconds, lateness_seconds)
        if window is not None:
            request.window.CopyFrom(window)
        reference = self.call("SetReferenceFromArtifact", request)
        self._remember(reference)
        return reference

    def get_reference(self, model, version):
        reference = self.call("GetReference", pb.GetReferenceRequest(model=model, version=version))
        self._remember(reference)
        return reference

    # -------------------------------------------------------------- traffic and labels

    def ingest(self, model, version, columns, timestamps=None, request_ids=None):
        """Sends records column by column: columns maps each column to its values, one per record (None: missing);
        timestamps are Unix milliseconds or aware datetimes (default: now), request_ids let labels join later.
        Sent in messages of at most 10,000 records; returns the IngestResponse (accepted, late)."""
        kinds = self._kinds.get((model, version)) or self._remember(self.get_reference(model, version))
        names = list(columns)
        values = [list(columns[name]) for name in names]
        count = len(values[0]) if values else 0
        if any(len(v) != count for v in values):
            raise ValueError("every column needs one value per record")
        if count == 0:
            raise ValueError("no records: give at least one value per column")
        now = int(time.time() * 1000)
        stamps = [now] * count if timestamps is None else [_millis(t) for t in timestamps]
        ids = list(request_ids) if request_ids is not None else []
        if len(stamps) != count or (ids and len(ids) != count):
            raise ValueError("timestamps and request_ids need one per record")
        unknown = [name for name in names if name not in kinds]
        if unknown:
            raise ValueError(f"not columns of the reference: {', '.join(unknown)}")

        def messages():
            for start in range(0, count, PER_MESSAGE):
                end = min(start + PER_MESSAGE, count)
                yield pb.IngestRequest(batch=pb.RecordBatch(
                    model=model, version=version, timestamps=stamps[start:end], request_ids=ids[start:end],
                    columns=[_column(name, values[i][start:end], kinds[name]) for i, name in enumerate(names)]))

        return self.invoke(self.stub.Ingest, messages())

    def ingest_labels(self, model, version, labels):
        """Sends labels that arrived after their predictions: a dict (or pairs) of request id to label (a bool or 0/1
        for binary classification, a number for regression). Returns the IngestLabelsResponse (matched, unmatched,
        drifts the concept-drift detectors signalled)."""
        pairs = labels.items() if isinstance(labels, dict) else labels

        def messages():
            for chunk in _chunks(pairs):
                yield pb.IngestLabelsRequest(model=model, version=version,
                                             labels=[pb.Label(request_id=request_id, value=_value(value)) for request_id, value in chunk])

        return self.invoke(self.stub.IngestLabels, messages())

    # -------------------------------------------------------------- reports

    def reports(self, model, version, page_size=100):
        """Every window report of the version, newest first (paged under the hood)."""
        return self.pages("ListWindowReports", pb.ListWindowReportsRequest(model=model, version=version, page_size=page_size), "reports")

    def report(self, model, version, window_start=None, count_window=None):
        """One window's report. window_start is a report's window_start (a Timestamp) or an aware datetime; a count
        window is better named by its number (a report's count_window): count windows can start at one instant."""
        return self.call("GetWindowReport", _window_request(model, version, window_start, count_window))

    def render(self, model, version, window_start=None, count_window=None):
        """One window's report as a self-contained HTML page (a string); the window as in report()."""
        return self.call("RenderWindowReport", _window_request(model, version, window_start, count_window)).html

    def status(self, include_unwatched=False):
        """The latest report of every version that has one (each column's verdict, without its histogram)."""
        return self.pages("GetStatus", pb.GetStatusRequest(include_unwatched=include_unwatched), "models")

    # --------------------------------------------------------------

    def _remember(self, reference):
        kinds = {column.name: column.kind for column in reference.columns}
        if reference.prediction_column and reference.prediction_column not in kinds:
            kinds[reference.prediction_column] = pb.COLUMN_KIND_NUMERIC
        self._kinds[(reference.model, reference.version)] = kinds
        return kinds


def _millis(value):
    if isinstance(value, int):
        return value
    if getattr(value, "tzinfo", None) is None:
        raise ValueError(f"{value!r} has no time zone: give an aware datetime or Unix milliseconds")
    return int(value.timestamp() * 1000)


def _timestamp(value):
    if isinstance(value, timestamp_pb2.Timestamp):
        return value
    if getattr(value, "tzinfo", None) is None:
        raise ValueError(f"{value!r} has no time zone: give an aware datetime")
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp
