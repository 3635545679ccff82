"""The tracking client: experiments, runs, batched metrics and streamed artifacts."""

import datetime
import hashlib
import os
import queue
import threading
import time

import grpc
from google.protobuf import timestamp_pb2

from modelops.errors import Connection, TrackingError
from modelops.provenance import detect, hostname
from modelops.tracking.v1 import tracking_pb2 as pb
from modelops.tracking.v1 import tracking_pb2_grpc

#: Bytes per upload message (the service accepts up to 4 MiB).
CHUNK_BYTES = 1 << 20
#: Most metrics in one message, as the service allows.
MAX_BATCH = 1000

_STATUS = {"FINISHED": pb.RUN_STATUS_FINISHED, "FAILED": pb.RUN_STATUS_FAILED, "KILLED": pb.RUN_STATUS_KILLED}


def _timestamp(value):
    if value is None:
        return None
    if isinstance(value, (int, float)):
        value = datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    if value.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone: give an aware datetime")
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value.astimezone(datetime.timezone.utc).replace(tzinfo=None))
    return stamp


def _millis(value):
    if value is None:
        return int(time.time() * 1000)
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return int(value)


def _sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


class Client(Connection):
    """A connection to the tracking service.

    target defaults to $MODELOPS_TRACKING_TARGET (host:port, plaintext HTTP/2), else the stack's (modelops.stack);
    token to $MODELOPS_TOKEN, else the stack's pipeline token (a bearer token with the pipeline role to write).
    Refusals raise TrackingError.
    """

    error_type = TrackingError

    def __init__(self, target=None, token=None, channel=None):
        super().__init__(tracking_pb2_grpc.TrackingServiceStub, target, token, channel, "MODELOPS_TRACKING_TARGET", "127.0.0.1:7101",
                         options=[("grpc.max_receive_message_length", 8 << 20)])

    # -------------------------------------------------------------- experiments and runs

    def get_or_create_experiment(self, name, tags=None):
        """The experiment named name, created when it does not exist; returns its id."""
        try:
            return self.call("GetExperiment", pb.GetExperimentRequest(name=name)).experiment_id
        except TrackingError as error:
            if error.code != grpc.StatusCode.NOT_FOUND:
                raise
        try:
            return self.call("CreateExperiment", pb.CreateExperimentRequest(name=name, tags=tags or {})).experiment_id
        except TrackingError as error:
            # Another process created it first.
            if error.code != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            return self.call("GetExperiment", pb.GetExperimentRequest(name=name)).experiment_id

    def get_run(self, run_id):
        return self.call("GetRun", pb.GetRunRequest(run_id=run_id))

    def get_provenance(self, run_id):
        return self.call("GetProvenance", pb.GetProvenanceRequest(run_id=run_id))

    def get_metric_history(self, run_id, key, max_points=0):
        return list(self.call("GetMetricHistory", pb.GetMetricHistoryRequest(run_id=run_id, metric_key=key, max_points=max_points)).metrics)

    def search_runs(self, experiment_ids, filter="", order_by=(), page_size=100):
        """Every run matching filter, following page tokens."""
        return self.pages("SearchRuns", pb.SearchRunsRequest(
            experiment_ids=list(experiment_ids), filter=filter, order_by=list(order_by), page_size=page_size), "runs")

    def list_artifacts(self, run_id, prefix=""):
        return self.pages("ListArtifacts", pb.ListArtifactsRequest(run_id=run_id, path_prefix=prefix), "artifacts")

    def start_run(self, experiment, run_name="", tags=None, provenance=None, rebuild_of="", autofill=True, flush_interval=1.0):
        """Starts a run in the experiment named experiment (created if needed) and returns it as a context manager.

        Provenance the process can detect (git sha and remote of the working directory, hardware, command line) is
        filled in unless autofill is False; fields given in provenance win. The host name is set as the tag
        modelops.hostname.
        """
        experiment_id = self.get_or_create_experiment(experiment)
        fields = detect() if autofill else {}
        fields.update(provenance or {})
        tags = dict(tags or {})
        if autofill:
            tags.setdefault("modelops.hostname", hostname())
        run = self.call("StartRun", pb.StartRunRequest(
            experiment_id=experiment_id, run_name=run_name, tags=tags, provenance=provenance_message(fields), rebuild_of=rebuild_of))
        return ActiveRun(self, run, flush_interval)

    # -------------------------------------------------------------- artifacts

    def upload_artifact(self, run_id, file, artifact_path=None, content_type=""):
        """Streams a file into the run's artifacts. It is hashed first, so the service verifies every byte."""
        size = os.path.getsize(file)
        header = pb.ArtifactHeader(run_id=run_id, path=artifact_path or os.path.basename(file),
                                   content_type=content_type, sha256=_sha256_of(file), size=size)

        def parts():
            yield pb.UploadArtifactRequest(header=header)
            with open(file, "rb") as source:
                for block in iter(lambda: source.read(CHUNK_BYTES), b""):
                    yield pb.UploadArtifactRequest(chunk=block)

        return self.invoke(self.stub.UploadArtifact, parts())

    def download_artifact(self, run_id, artifact_path, destination):
        """Writes an artifact to the file destination, checking its size and SHA-256; returns its record.

        A mismatch (or the service's DATA_LOSS) removes the partial file and raises.
        """
        digest, size, artifact = hashlib.sha256(), 0, None
        temporary = f"{destination}.part"
        try:
            with open(temporary, "wb") as target:
                stream = self.stub.DownloadArtifact(pb.DownloadArtifactRequest(run_id=run_id, path=artifact_path), metadata=self._metadata)
                for part in stream:
                    if part.WhichOneof("part") == "artifact":
                        artifact = part.artifact
                        continue
                    digest.update(part.chunk)
                    size += len(part.chunk)
                    target.write(part.chunk)
            if artifact is None or size != artifact.size or digest.hexdigest() != artifact.sha256:
                raise TrackingError(grpc.StatusCode.DATA_LOSS,
                                    f"{artifact_path}: received {size} bytes hashing to {digest.hexdigest()}, "
                                    f"the record says {artifact and artifact.size} bytes, {artifact and artifact.sha256}")
            os.replace(temporary, destination)
            return artifact
        except grpc.RpcError as error:
            raise self._explained(TrackingError.from_rpc(error)) from None
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)


def provenance_message(fields):
    """A Provenance message from a dict; timestamps may be aware datetimes, time ranges (start, end) pairs."""
    fields = dict(fields)
    message = pb.Provenance()
    for key in ("dataset_snapshot_at",):
        if key in fields:
            getattr(message, key).CopyFrom(_timestamp(fields.pop(key)))
    if "data_time_range" in fields:
        start, end = fields.pop("data_time_range")
        message.data_time_range.CopyFrom(pb.TimeRange(start=_timestamp(start), end=_timestamp(end)))
    if "split" in fields:
        message.split.CopyFrom(pb.DataSplit(**fields.pop("split")))
    for key in ("seeds", "hyperparameters", "correlation_ids"):
        if key in fields:
            values = fields.pop(key)
            getattr(message, key).update({k: (int(v) if key == "seeds" else str(v)) for k, v in values.items()})
    if "feature_groups" in fields:
        message.feature_groups.extend(fields.pop("feature_groups"))
    for key, value in fields.items():
        setattr(message, key, str(value))
    return message


class _MetricSender(threading.Thread):
    """Streams queued metrics to LogMetrics in batches of up to 1000, sending at least every flush_interval seconds."""

    _END = object()

    def __init__(self, client, run_id, flush_interval):
        super().__init__(name=f"modelops-metrics-{run_id[:8]}", daemon=True)
        self._client, self._run_id, self._interval = client, run_id, flush_interval
        self.queue = queue.Queue()
        self.error = None
        self.sent = 0
        self.response = None

    def _messages(self):
        batch, deadline, ended = [], time.monotonic() + self._interval, False
        while not ended:
            try:
                item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                if item is self._END:
                    ended = True
                else:
                    batch.append(item)
            except queue.Empty:
                pass
            if batch and (ended or len(batch) >= MAX_BATCH or time.monotonic() >= deadline):
                while batch:
                    chunk, batch = batch[:MAX_BATCH], batch[MAX_BATCH:]
                    self.sent += len(chunk)
                    yield pb.LogMetricsRequest(run_id=self._run_id, metrics=chunk)
            if time.monotonic() >= deadline:
                deadline = time.monotonic() + self._interval

    def run(self):
        try:
            self.response = self._client.invoke(self._client.stub.LogMetrics, self._messages())
        except Exception as error:  # surfaced to the caller by ActiveRun
            self.error = error

    def close(self):
        self.queue.put(self._END)
        self.join()


class ActiveRun:
    """A running run. Use it as a context manager: it ends FINISHED when the block completes and FAILED (with the
    exception in the tag modelops.error) when an exception escapes it."""

    def __init__(self, client, run, flush_interval=1.0):
        self.client = client
        self.run = run
        self.run_id = run.run_id
        self._sender = _MetricSender(client, run.run_id, flush_interval)
        self._sender.start()
        self._ended = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None:
            self.end("FAILED", error=f"{exc_type.__name__}: {exc}")
        else:
            self.end("FINISHED")
        return False

    def _check_sender(self):
        if self._sender.error is not None:
            raise self._sender.error

    def log_param(self, key, value):
        self.log_params({key: value})

    def log_params(self, params):
        """Params are write-once: the same value again is accepted, another one raises TrackingError."""
        items = [pb.Param(key=str(k), value=str(v)) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.call("LogBatch", pb.LogBatchRequest(run_id=self.run_id, params=items[start:start + 100]))

    def set_tag(self, key, value):
        self.client.call("LogBatch", pb.LogBatchRequest(run_id=self.run_id, tags=[pb.RunTag(key=str(key), value=str(value))]))

    def log_metric(self, key, value, step=0, timestamp=None):
        """Queues a metric value; a background thread sends it within the flush interval."""
        self._check_sender()
        self._sender.queue.put(pb.Metric(key=key, value=float(value), step=int(step), timestamp=_millis(timestamp)))

    def log_metrics(self, metrics, step=0, timestamp=None):
        stamp = _millis(timestamp)
        for key, value in metrics.items():
            self.log_metric(key, value, step, stamp)

    def log_input(self, dataset_id, hash, snapshot_at=None, feature_groups=(), time_range=None, source_uri="", context=""):
        """Records a dataset the run used: its id, the hash of the data as used, the snapshot time, feature groups,
        the (start, end) time range it covers and where it came from."""
        dataset = pb.DatasetInput(dataset_id=dataset_id, hash=hash, feature_groups=list(feature_groups), source_uri=source_uri, context=context)
        if snapshot_at is not None:
            dataset.snapshot_at.CopyFrom(_timestamp(snapshot_at))
        if time_range is not None:
            dataset.time_range.CopyFrom(pb.TimeRange(start=_timestamp(time_range[0]), end=_timestamp(time_range[1])))
        self.client.call("LogBatch", pb.LogBatchRequest(run_id=self.run_id, inputs=[dataset]))

    def set_provenance(self, **fields):
        """Fills in provenance fields; a field once set keeps its value."""
        return self.client.call("SetProvenance", pb.SetProvenanceRequest(run_id=self.run_id, provenance=provenance_message(fields)))

    def log_artifact(self, file, artifact_path=None, content_type=""):
        return self.client.upload_artifact(self.run_id, file, artifact_path, content_type)

    def end(self, status="FINISHED", error=None):
        """Sends the queued metrics and ends the run. A failure to send them ends it FAILED and raises."""
        if self._ended:
            return self.run
        self._ended = True
        self._sender.close()
        send_error = self._sender.error
        if send_error is None and self._sender.response is not None and self._sender.response.accepted_metrics != self._sender.sent:
            send_error = TrackingError(grpc.StatusCode.DATA_LOSS, f"the service accepted {self._sender.response.accepted_metrics} of {self._sender.sent} metrics")
        if send_error is not None and status == "FINISHED":
            status, error = "FAILED", f"metrics could not be sent: {send_error}"
        if error is not None:
            self.set_tag("modelops.error", error[:8000])
        self.run = self.client.call("EndRun", pb.EndRunRequest(run_id=self.run_id, status=_STATUS[status]))
        if send_error is not None:
            raise send_error
        return self.run
