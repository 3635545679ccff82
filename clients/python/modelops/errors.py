"""Errors raised by the clients, with the service's field violations, and their connection to a service.

Every refusal is a ModelOpsError; each service's client raises its own subclass (TrackingError, RegistryError,
DriftError, FairnessError, ExplainabilityError, AlertingError), so a program can tell which service refused, or catch them all.
"""

import base64
import datetime
import json
import os

import grpc

from modelops import _rpc_pb2, stack

_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_PRECONDITION = "type.googleapis.com/google.rpc.PreconditionFailure"
_RETRY = "type.googleapis.com/google.rpc.RetryInfo"


class ModelOpsError(Exception):
    """A call a ModelOps service refused.

    code is the gRPC status code; reason the service's stable reason code (RUN_NOT_FOUND, RUN_ENDED, FOUR_EYES, ...),
    which a program acts on instead of the message; violations the fields at fault ([(field, description)]);
    preconditions what does not hold ([(type, subject, description)]); metadata facts such as a correlation id;
    retry_after the seconds the service asks to wait before retrying (UNAVAILABLE), or None.
    """

    def __init__(self, code, message, violations=None, reason="", domain="", metadata=None, preconditions=None, retry_after=None):
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})
        #: [(field, description)] from google.rpc.BadRequest, empty when the service named none.
        self.violations = list(violations or [])
        #: [(type, subject, description)] from google.rpc.PreconditionFailure.
        self.preconditions = list(preconditions or [])
        self.retry_after = retry_after
        #: For UNAUTHENTICATED: the token presented, its issuer, the target that refused it and how to fix it.
        self.hint = ""
        detail = "; ".join(f"{field}: {description}" for field, description in self.violations)
        label = f"{code.name}/{reason}" if reason else code.name
        super().__init__(f"{label}: {message}" + (f" ({detail})" if detail else ""))

    @property
    def retryable(self):
        """Whether repeating the call may succeed: a transient fault of the service's infrastructure."""
        return self.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED)

    @classmethod
    def from_rpc(cls, error):
        details = {"violations": [], "preconditions": [], "reason": "", "domain": "", "metadata": {}, "retry_after": None}
        for key, value in (error.trailing_metadata() or ()):
            if key != "grpc-status-details-bin":
                continue
            status = _rpc_pb2.Status.FromString(value)
            for any_detail in status.details:
                if any_detail.type_url == _BAD_REQUEST:
                    bad = _rpc_pb2.BadRequest.FromString(any_detail.value)
                    details["violations"].extend((v.field, v.description) for v in bad.field_violations)
                elif any_detail.type_url == _ERROR_INFO:
                    info = _rpc_pb2.ErrorInfo.FromString(any_detail.value)
                    details.update(reason=info.reason, domain=info.domain, metadata=dict(info.metadata))
                elif any_detail.type_url == _PRECONDITION:
                    failure = _rpc_pb2.PreconditionFailure.FromString(any_detail.value)
                    details["preconditions"].extend((v.type, v.subject, v.description) for v in failure.violations)
                elif any_detail.type_url == _RETRY:
                    delay = _rpc_pb2.RetryInfo.FromString(any_detail.value).retry_delay
                    details["retry_after"] = delay.seconds + delay.nanos / 1e9
        return cls(error.code(), error.details(), **details)


class TrackingError(ModelOpsError):
    """A call the tracking service refused."""


class RegistryError(ModelOpsError):
    """A call the model registry refused."""


class DriftError(ModelOpsError):
    """A call the drift service refused."""


class FairnessError(ModelOpsError):
    """A call the fairness service refused."""


class ExplainabilityError(ModelOpsError):
    """A call the explainability service refused."""


class AlertingError(ModelOpsError):
    """A call the alerting service refused."""


def translate(call, *args, error_type=ModelOpsError, **kwargs):
    """Calls a stub method, raising error_type (a ModelOpsError) for a status the service returned."""
    try:
        return call(*args, **kwargs)
    except grpc.RpcError as error:
        if isinstance(error, grpc.Call):
            raise error_type.from_rpc(error) from None
        raise


class Connection:
    """A channel to one ModelOps service with the caller's bearer token: the base of every service's client.

    target falls back to the environment variable target_variable, then to the address the stack this client belongs
    to publishes (see modelops.stack), then to default_target (host:port, plaintext HTTP/2); token to $MODELOPS_TOKEN,
    then to the stack's development token of the client's role. Refusals raise the client's error_type.
    """

    #: The ModelOpsError subclass this service's refusals raise.
    error_type = ModelOpsError
    #: The role whose development token the client presents when given none.
    role = "pipeline"

    def __init__(self, stub_class, target, token, channel, target_variable, default_target, options=()):
        service = target_variable[len("MODELOPS_"):-len("_TARGET")].lower()
        given_target = target or os.environ.get(target_variable)
        given_token = token if token is not None else os.environ.get("MODELOPS_TOKEN")
        found = None if given_target and given_token is not None else stack.find()
        if target:
            self._target_source = "the target argument"
        elif os.environ.get(target_variable):
            self._target_source, target = f"${target_variable}", os.environ[target_variable]
        elif found is not None and found.target(service):
            self._target_source, target = f"the stack {found.file}, found by {found.found_by}", found.target(service)
        else:
            self._target_source, target = "the default target (no running stack was found)", default_target
        if token is not None:
            self._token_source = "the token argument"
        elif os.environ.get("MODELOPS_TOKEN"):
            self._token_source, token = "$MODELOPS_TOKEN", os.environ["MODELOPS_TOKEN"]
        elif found is not None and found.token_file(self.role) and os.path.isfile(found.token_file(self.role)):
            self._token_source = found.token_file(self.role)
            with open(self._token_source, encoding="utf-8") as file:
                token = file.read().strip()
        else:
            self._token_source, token = None, ""
        self._target, self._token = target, token
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
        """Calls a unary method by name, raising ModelOpsError for a refusal."""
        return self.invoke(getattr(self.stub, name), request)

    def invoke(self, method, request):
        """Calls a stub's method with a request, or with an iterator of messages for a client stream, raising the
        client's error type for a refusal (with, for want of a valid token, what was presented and how to fix it)."""
        try:
            return translate(method, request, error_type=self.error_type, metadata=self._metadata)
        except ModelOpsError as error:
            raise self._explained(error) from None

    def _explained(self, error):
        """A refusal for want of a valid token, with what was presented, to whom, and how to fix it."""
        if error.code != grpc.StatusCode.UNAUTHENTICATED:
            return error
        where = f"{self._target} (from {self._target_source})"
        if not self._token:
            error.hint = (f"no token was presented to {where}: pass token= or set $MODELOPS_TOKEN "
                          f"(the stack writes its tokens to <state folder>/tokens, and ${stack.VARIABLE} names a stack's state folder)")
        else:
            issuer, expires, roles = _claims(self._token)
            issued = f"was issued by {issuer}" + (f" for {', '.join(roles)}" if roles else "") if issuer else "is not a JWT"
            error.hint = f"{where} refused the token from {self._token_source}, which {issued}; "
            if expires is not None and expires <= datetime.datetime.now(datetime.timezone.utc):
                error.hint += f"it expired at {expires:%Y-%m-%d %H:%M:%SZ}: take a fresh one from the stack"
            else:
                error.hint += ("every stack signs its own tokens: with several stacks on this machine, this may be another one's; "
                               f"use the tokens of the stack you mean (its endpoints.json names their folder), or set ${stack.VARIABLE} to its state folder")
        error.args = (f"{error.args[0]} [{error.hint}]",)
        return error

    def pages(self, name, request, items):
        """Calls a paged unary method by name, following next_page_token, and yields the `items` field of every page."""
        while True:
            page = self.call(name, request)
            yield from getattr(page, items)
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def stream(self, name, request):
        """Calls a server-streaming method by name and yields its messages, raising error_type for a refusal."""
        responses = getattr(self.stub, name)(request, metadata=self._metadata)
        try:
            yield from responses
        except grpc.RpcError as error:
            if isinstance(error, grpc.Call):
                raise self._explained(self.error_type.from_rpc(error)) from None
            raise


def _claims(token):
    """A JWT's issuer, expiry and roles, read without checking its signature (only to explain a refusal)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None, None, []
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None, None, []
    if not isinstance(payload, dict):
        return None, None, []
    expires = payload.get("exp")
    expires = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc) if isinstance(expires, (int, float)) else None
    roles = payload.get("role", payload.get("roles", []))
    roles = [str(r) for r in roles] if isinstance(roles, list) else [str(roles)]
    return payload.get("iss", "an unnamed issuer"), expires, roles
