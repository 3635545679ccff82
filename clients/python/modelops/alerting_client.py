"""The alerting client: what fires and where it goes, silences, the configuration in force, deliveries, retraining.

    import modelops

    alerting = modelops.Alerting()
    for alert in alerting.alerts(filter=['model="credit-risk"'], active=True):
        print(alert.labels["alertname"], list(alert.receivers))
    silence = alerting.add_silence(['model="credit-risk"', 'severity=~"warn.*"'], hours=4, comment="maintenance")
    alerting.expire_silence(silence.silence_id)
    for request in alerting.retrain_requests(model="credit-risk"):
        print(request.status, request.run_id)
"""

import datetime

from google.protobuf import timestamp_pb2

from modelops.alerting.v1 import alerting_pb2 as pb
from modelops.alerting.v1 import alerting_pb2_grpc
from modelops.errors import AlertingError, Connection

# The operators a matcher may use, as Alertmanager writes them.
_OPERATORS = (("=~", pb.MATCHER_TYPE_REGEXP), ("!~", pb.MATCHER_TYPE_NOT_REGEXP), ("!=", pb.MATCHER_TYPE_NOT_EQUAL),
              ("=", pb.MATCHER_TYPE_EQUAL))


def matcher(text):
    """A Matcher from Alertmanager's text (name="value", name!="value", name=~"regex", name!~"regex"): the operator is
    the first in the text, so a value may hold operators of its own."""
    found = min(((text.find(op), -len(op), op, kind) for op, kind in _OPERATORS if text.find(op) > 0), default=None)
    if found is None:
        raise ValueError(f"{text!r} is not a matcher: name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\"")
    at, _, op, kind = found
    value = text[at + len(op):].strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return pb.Matcher(name=text[:at].strip(), type=kind, value=value)


class Alerting(Connection):
    """A connection to the alerting service.

    target defaults to $MODELOPS_ALERTING_TARGET (host:port, plaintext HTTP/2), else the stack's; token to $MODELOPS_TOKEN,
    else the stack's pipeline token (silences need a reviewer's or an admin's, the configuration an admin's). Refusals
    raise AlertingError with the gRPC status, the reason code and, for bad input, the fields at fault.
    """

    error_type = AlertingError

    def __init__(self, target=None, token=None, channel=None):
        super().__init__(alerting_pb2_grpc.AlertingServiceStub, target, token, channel, "MODELOPS_ALERTING_TARGET", "127.0.0.1:7106")

    def alerts(self, filter=(), receiver="", active=False, page_size=100):
        """The alerts alerting holds (matching every matcher of filter, routed to receiver), with the receivers each
        reaches and what mutes it; active: only those neither silenced nor inhibited. Paged under the hood."""
        return self.pages("ListAlerts", pb.ListAlertsRequest(filter=list(filter), receiver=receiver, active_only=active, page_size=page_size), "alerts")

    def add_silence(self, matchers, hours=2.0, comment="", ends_at=None):
        """Mutes the alerts matching every matcher (texts or Matchers) from now until ends_at (an aware datetime), or for
        hours. Returns the Silence with its id."""
        end = ends_at or datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(end)
        return self.call("CreateSilence", pb.CreateSilenceRequest(
            matchers=[m if isinstance(m, pb.Matcher) else matcher(m) for m in matchers], ends_at=stamp, comment=comment))

    def expire_silence(self, silence_id):
        """Ends a silence now; returns it."""
        return self.call("ExpireSilence", pb.ExpireSilenceRequest(silence_id=silence_id))

    def silence(self, silence_id):
        return self.call("GetSilence", pb.GetSilenceRequest(silence_id=silence_id))

    def silences(self, active=False, page_size=100):
        """Silences in force and recently expired (active: in force only)."""
        return self.pages("ListSilences", pb.ListSilencesRequest(active_only=active, page_size=page_size), "silences")

    def config(self):
        """The configuration in force: version, hash, author, routes, receivers and retraining policies (never a secret)."""
        return self.call("GetConfig", pb.GetConfigRequest())

    def apply_config(self, yaml, comment=""):
        """Puts Alertmanager's YAML (with retrain_policies) in force as a new version (admin); returns the
        ApplyConfigResponse (config, changed)."""
        return self.call("ApplyConfig", pb.ApplyConfigRequest(yaml=yaml, comment=comment))

    def deliveries(self, receiver="", fingerprint="", status="", page_size=100):
        """The delivery log: each notification's receiver, integration, status, attempts and last error."""
        return self.pages("ListDeliveries", pb.ListDeliveriesRequest(receiver=receiver, fingerprint=fingerprint, status=status, page_size=page_size),
                          "deliveries")

    def retrain_requests(self, model="", page_size=100):
        """The retraining alerting asked for, and the run that answered each."""
        return self.pages("ListRetrainRequests", pb.ListRetrainRequestsRequest(model=model, page_size=page_size), "requests")
