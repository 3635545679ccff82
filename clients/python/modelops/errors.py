"""Errors raised by the clients, with the service's field violations, and their connection to a service."""

import os

import grpc

from modelops import _rpc_pb2

_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


class TrackingError(Exception):
    """A call the service refused: its gRPC status code, message and, for bad input, each field at fault."""

    def __init__(self, code, message, violations=None):
        self.code = code
        self.message = message
        #: [(field, description)] from google.rpc.BadRequest, empty when the service named none.
        self.violations = list(violations or [])
        detail = "; ".join(f"{field}: {description}" for field, description in self.violations)
        super().__init__(f"{code.name}: {message}" + (f" ({detail})" if detail else ""))

    @classmethod
    def from_rpc(cls, error):
        violations = []
        for key, value in (error.trailing_metadata() or ()):
            if key == "grpc-status-details-bin":
                status = _rpc_pb2.Status.FromString(value)
                for any_detail in status.details:
                    if any_detail.type_url == _BAD_REQUEST:
                        bad = _rpc_pb2.BadRequest.FromString(any_detail.value)
                        violations.extend((v.field, v.description) for v in bad.field_violations)
        return cls(error.code(), error.details(), violations)


def translate(call, *args, **kwargs):
    """Calls a stub method, raising TrackingError for a status the service returned."""
    try:
        return call(*args, **kwargs)
    except grpc.RpcError as error:
        if isinstance(error, grpc.Call):
            raise TrackingError.from_rpc(error) from None
        raise


class Connection:
    """A channel to one ModelOps service with the caller's bearer token: the base of Client and Registry.

    target falls back to the environment variable target_variable, then to default_target (host:port, plaintext
    HTTP/2); token to $MODELOPS_TOKEN.
    """

    def __init__(self, stub_class, target, token, channel, target_variable, default_target, options=()):
        target = target or os.environ.get(target_variable, default_target)
        token = token if token is not None else os.environ.get("MODELOPS_TOKEN", "")
        self._channel = channel or grpc.insecure_channel(target, options=list(options))
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.stub = stub_class(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, name, request):
        """Calls a unary method by name, raising TrackingError for a refusal."""
        return translate(getattr(self.stub, name), request, metadata=self._metadata)
