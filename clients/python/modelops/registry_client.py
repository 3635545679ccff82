"""The registry client: what a pipeline does at the end of training, and what a serving system asks.

    import modelops

    with modelops.start_run("credit-scoring") as run:
        ...
        run.log_artifact("model.onnx", "model/model.onnx")
    registry = modelops.Registry()
    version = registry.register_version("credit-scoring", run.run_id, "model/model.onnx", risk_tier="HIGH")
    request = registry.request_promotion("credit-scoring", version.version, stage="PRODUCTION",
                                         justification="auc 0.81 on the November holdout")
    for gate in request.gates:
        print(gate.name, registry.gate_status(gate), gate.reason)
"""

import grpc

from modelops.errors import Connection, RegistryError
from modelops.registry.v1 import registry_pb2 as pb
from modelops.registry.v1 import registry_pb2_grpc

_TIERS = {"LOW": pb.RISK_TIER_LOW, "MEDIUM": pb.RISK_TIER_MEDIUM, "HIGH": pb.RISK_TIER_HIGH}
_STAGES = {"NONE": pb.STAGE_NONE, "STAGING": pb.STAGE_STAGING, "PRODUCTION": pb.STAGE_PRODUCTION, "ARCHIVED": pb.STAGE_ARCHIVED}


def _target(stage=None, alias=None):
    if (stage is None) == (alias is None):
        raise ValueError("give exactly one of stage (NONE, STAGING, PRODUCTION, ARCHIVED) or alias")
    if alias is not None:
        return pb.Target(alias=alias)
    if stage.upper() not in _STAGES:
        raise ValueError(f"{stage!r} is not a stage: one of {', '.join(_STAGES)}")
    return pb.Target(stage=_STAGES[stage.upper()])


class Registry(Connection):
    """A connection to the model registry.

    target defaults to $MODELOPS_REGISTRY_TARGET (host:port, plaintext HTTP/2), token to $MODELOPS_TOKEN. Refusals
    raise RegistryError with the gRPC status, the reason code and, for bad input, the fields at fault.
    """

    error_type = RegistryError

    def __init__(self, target=None, token=None, channel=None):
        super().__init__(registry_pb2_grpc.RegistryServiceStub, target, token, channel, "MODELOPS_REGISTRY_TARGET", "127.0.0.1:7102")

    def register_version(self, model, run_id, artifact_path, risk_tier="MEDIUM", description=""):
        """Registers the artifact of a FINISHED run as the model's next version, creating the model (with risk_tier) if
        it does not exist. The registry re-hashes the artifact's bytes and snapshots the run's provenance and metrics."""
        try:
            self.call("CreateRegisteredModel", pb.CreateRegisteredModelRequest(name=model, risk_tier=_TIERS[risk_tier.upper()]))
        except RegistryError as error:
            if error.code != grpc.StatusCode.ALREADY_EXISTS:
                raise
        return self.call("CreateModelVersion", pb.CreateModelVersionRequest(
            model=model, run_id=run_id, artifact_path=artifact_path, description=description))

    def request_promotion(self, model, version, stage=None, alias=None, justification=""):
        """Asks for version to move to stage (or take alias); returns the request with its first gate results."""
        return self.call("RequestPromotion", pb.RequestPromotionRequest(
            model=model, version=version, target=_target(stage, alias), justification=justification))

    def get_request(self, request_id):
        return self.call("GetPromotionRequest", pb.GetPromotionRequestRequest(request_id=request_id))

    def get_deployable(self, model, stage="PRODUCTION", alias=None):
        """The version a stage or alias serves through its gates: version, artifact_uri, artifact_sha256, gates."""
        return self.call("GetDeployable", pb.GetDeployableRequest(model=model, target=_target(None if alias else stage, alias)))

    @staticmethod
    def gate_status(gate):
        """PASS, FAIL or PENDING."""
        return pb.GateStatus.Name(gate.status).removeprefix("GATE_STATUS_")

    @staticmethod
    def request_state(request):
        """OPEN, APPROVED, REJECTED, CANCELLED or SUPERSEDED."""
        return pb.RequestState.Name(request.state).removeprefix("REQUEST_STATE_")
