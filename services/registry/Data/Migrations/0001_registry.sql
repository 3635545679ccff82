-- Registered models, versions pinned to a run's artifact, versioned policies, promotion requests with their gate
-- evaluations and approvals, and assignments: which version held which stage or alias, from when until when. A
-- stage or alias changes only by closing one assignment and opening another, so history is never rewritten.

CREATE TABLE registered_models (
    name           text        PRIMARY KEY,
    description    text        NOT NULL DEFAULT '',
    owner          text        NOT NULL DEFAULT '',
    tags           jsonb       NOT NULL DEFAULT '{}',
    risk_tier      text        NOT NULL CHECK (risk_tier IN ('LOW', 'MEDIUM', 'HIGH')),
    latest_version integer     NOT NULL DEFAULT 0,
    policy_version integer     NOT NULL DEFAULT 0,
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_versions (
    model              text        NOT NULL REFERENCES registered_models,
    version            integer     NOT NULL,
    run_id             text        NOT NULL,
    run_author         text        NOT NULL,
    run_record_sha256  text        NOT NULL,
    artifact_path      text        NOT NULL,
    artifact_uri       text        NOT NULL,
    artifact_sha256    text        NOT NULL,
    artifact_size      bigint      NOT NULL,
    description        text        NOT NULL DEFAULT '',
    stage              text        NOT NULL DEFAULT 'NONE' CHECK (stage IN ('NONE', 'STAGING', 'PRODUCTION', 'ARCHIVED')),
    -- What the gates look at, fixed when the version is registered (the run has ended and cannot change):
    provenance         jsonb       NOT NULL,   -- tracking's ProvenanceReport, protobuf JSON
    provenance_present text[]      NOT NULL,
    metrics            jsonb       NOT NULL,   -- {"key": latest value}
    artifacts          jsonb       NOT NULL,   -- [{"path", "sha256", "size", "uri"}]
    created_by         text        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version)
);
CREATE INDEX model_versions_run ON model_versions (run_id);

CREATE TABLE policies (
    model      text        NOT NULL REFERENCES registered_models,
    version    integer     NOT NULL,
    policy     jsonb       NOT NULL,   -- modelops.registry.v1.Policy, protobuf JSON
    reason     text        NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version)
);

CREATE TABLE promotion_requests (
    request_id         uuid        PRIMARY KEY,
    model              text        NOT NULL,
    version            integer     NOT NULL,
    target             text        NOT NULL,   -- stage:PRODUCTION, alias:champion
    from_stage         text        NOT NULL,   -- the version's stage when asked
    justification      text        NOT NULL,
    requester          text        NOT NULL,
    state              text        NOT NULL DEFAULT 'OPEN' CHECK (state IN ('OPEN', 'APPROVED', 'REJECTED', 'CANCELLED', 'SUPERSEDED')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    policy_version     integer,
    gates              jsonb,      -- the latest evaluation's GateResults, protobuf JSON
    evaluated_at       timestamptz,
    decided_by         text,
    decided_at         timestamptz,
    decision_comment   text,
    FOREIGN KEY (model, version) REFERENCES model_versions
);
CREATE INDEX promotion_requests_model ON promotion_requests (model, created_at DESC);
-- One open request per version and target: a second one would race the first.
CREATE UNIQUE INDEX promotion_requests_open ON promotion_requests (model, version, target) WHERE state = 'OPEN';

CREATE TABLE approvals (
    request_id uuid        NOT NULL REFERENCES promotion_requests,
    reviewer   text        NOT NULL,
    comment    text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, reviewer)
);

CREATE TABLE gate_evaluations (
    evaluation_id  uuid        PRIMARY KEY,
    request_id     uuid        NOT NULL REFERENCES promotion_requests,
    policy_version integer     NOT NULL,
    gates          jsonb       NOT NULL,
    passed         boolean     NOT NULL,
    evaluated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gate_evaluations_request ON gate_evaluations (request_id, evaluated_at);

CREATE TABLE assignments (
    assignment_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model             text        NOT NULL,
    target            text        NOT NULL,
    version           integer     NOT NULL,
    valid_from        timestamptz NOT NULL,
    valid_to          timestamptz,
    request_id        uuid        REFERENCES promotion_requests,
    evaluation_id     uuid        REFERENCES gate_evaluations,
    override_reason   text,
    decided_by        text        NOT NULL,
    decision_event_id uuid        NOT NULL,
    ledger_index      bigint,
    FOREIGN KEY (model, version) REFERENCES model_versions,
    CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CHECK ((request_id IS NULL) <> (override_reason IS NULL))
);
-- "What did target X hold at T": the assignments of (model, target) that began by T.
CREATE INDEX assignments_at ON assignments (model, target, valid_from);
-- A version holds a target once at a time; an alias points at one version at a time.
CREATE UNIQUE INDEX assignments_open ON assignments (model, target, version) WHERE valid_to IS NULL;
CREATE UNIQUE INDEX assignments_open_alias ON assignments (model, target) WHERE valid_to IS NULL AND target LIKE 'alias:%';
