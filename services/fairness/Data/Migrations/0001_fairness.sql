-- Fairness reports of evaluation datasets and the mitigations computed on them. Each is one protobuf message
-- (modelops.fairness.v1.FairnessReport / Mitigation); the columns beside it are what lookups need.

CREATE TABLE reports (
    id             uuid        PRIMARY KEY,
    model          text        NOT NULL,
    version        text        NOT NULL,
    run_id         text        NOT NULL,   -- the tracking run whose artifact the dataset is
    dataset_sha256 text        NOT NULL,
    created_at     timestamptz NOT NULL,
    body           bytea       NOT NULL
);

CREATE INDEX reports_by_version ON reports (model, version, created_at DESC, id DESC);

CREATE TABLE mitigations (
    id             uuid        PRIMARY KEY,
    model          text        NOT NULL,
    version        text        NOT NULL,
    created_at     timestamptz NOT NULL,
    body           bytea       NOT NULL
);

CREATE INDEX mitigations_by_version ON mitigations (model, version, created_at DESC);
