-- A request's gates are those of the policy version and risk tier in force when it was opened (or re-opened): an open
-- request is never re-judged under a tier lowered after it was made.
ALTER TABLE promotion_requests ADD COLUMN risk_tier text CHECK (risk_tier IN ('LOW', 'MEDIUM', 'HIGH'));
UPDATE promotion_requests r SET risk_tier = m.risk_tier FROM registered_models m WHERE m.name = r.model;
UPDATE promotion_requests r SET policy_version = m.policy_version FROM registered_models m
WHERE m.name = r.model AND r.policy_version IS NULL;
ALTER TABLE promotion_requests ALTER COLUMN risk_tier SET NOT NULL;
ALTER TABLE promotion_requests ALTER COLUMN policy_version SET NOT NULL;

-- Retried writes change nothing twice: a registration or a request repeated with its client request id finds the first.
ALTER TABLE promotion_requests ADD COLUMN client_request_id text;
CREATE UNIQUE INDEX promotion_requests_client_request ON promotion_requests (requester, client_request_id)
    WHERE client_request_id IS NOT NULL;
ALTER TABLE model_versions ADD COLUMN client_request_id text;
CREATE UNIQUE INDEX model_versions_client_request ON model_versions (created_by, client_request_id)
    WHERE client_request_id IS NOT NULL;

-- The integrity sweep's verdict on a version whose artifact is served: when its bytes were last found altered or gone.
ALTER TABLE model_versions ADD COLUMN integrity_failed_at timestamptz;
ALTER TABLE model_versions ADD COLUMN integrity_actual_sha256 text;
