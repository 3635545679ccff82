-- Global importance reports (modelops.explainability.v1.ImportanceReport) and per-model feature dictionaries
-- (modelops.explainability.v1.FeatureDictionary); the columns beside each message are what lookups need.

CREATE TABLE importance_reports (
    id             uuid        PRIMARY KEY,
    model          text        NOT NULL,
    version        integer     NOT NULL,
    model_sha256   text        NOT NULL,
    run_id         text        NOT NULL,   -- the tracking run whose artifact the dataset is
    dataset_sha256 text        NOT NULL,
    created_at     timestamptz NOT NULL,
    body           bytea       NOT NULL
);

CREATE INDEX importance_by_version ON importance_reports (model, version, created_at DESC, id DESC);
CREATE INDEX importance_by_dataset ON importance_reports (model, dataset_sha256, version);

CREATE TABLE feature_dictionaries (
    model      text        PRIMARY KEY,
    updated_at timestamptz NOT NULL,
    body       bytea       NOT NULL
);
