-- Retraining requested by a policy when a finding meets it: at most one in flight per policy and model, none within
-- the policy's cooldown of the last. A request is in flight from its creation until the run it started finishes (the
-- pipeline names the request in its run's provenance, correlation_ids.retrain_request_id) or its timeout passes.
CREATE TABLE retrain_requests (
    id                uuid        PRIMARY KEY,
    policy            text        NOT NULL,
    model             text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('requested', 'running', 'completed', 'failed', 'expired')),
    finding_event_id  uuid        NOT NULL,
    evidence          jsonb       NOT NULL,
    requested_at      timestamptz NOT NULL,
    not_before        timestamptz NOT NULL,
    run_id            text,
    finished_at       timestamptz
);
CREATE INDEX retrain_requests_policy_model ON retrain_requests (policy, model, requested_at DESC);
CREATE INDEX retrain_requests_run ON retrain_requests (run_id) WHERE run_id IS NOT NULL;

-- Runs that finished before their start was seen (the two events arrive on different queues): kept a week, so that a
-- retraining run whose RunFinished overtook its RunStarted still completes its request.
CREATE TABLE finished_runs (
    run_id       text        PRIMARY KEY,
    succeeded    boolean     NOT NULL,
    finished_at  timestamptz NOT NULL
);
