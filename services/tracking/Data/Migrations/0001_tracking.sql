-- Experiments, runs, params, metrics, tags and dataset inputs, shaped like MLflow's tables so that an MLflow REST
-- facade can read them without a migration. Params and metrics are never updated in place; latest_metrics is an
-- index of the newest value per run and key, kept for search.

CREATE TABLE experiments (
    experiment_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text        NOT NULL,
    artifact_location text        NOT NULL,
    lifecycle_stage   text        NOT NULL DEFAULT 'active' CHECK (lifecycle_stage IN ('active', 'deleted')),
    created_by        text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX experiments_name ON experiments (name);

CREATE TABLE experiment_tags (
    experiment_id bigint NOT NULL REFERENCES experiments ON DELETE CASCADE,
    key           text   NOT NULL,
    value         text   NOT NULL,
    PRIMARY KEY (experiment_id, key)
);

CREATE TABLE runs (
    run_id          uuid        PRIMARY KEY,
    experiment_id   bigint      NOT NULL REFERENCES experiments,
    run_name        text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
    lifecycle_stage text        NOT NULL DEFAULT 'active' CHECK (lifecycle_stage IN ('active', 'deleted')),
    author          text        NOT NULL,
    start_time      bigint      NOT NULL,   -- milliseconds since the epoch, as MLflow
    end_time        bigint,
    rebuild_of      uuid        REFERENCES runs,
    provenance      jsonb       NOT NULL DEFAULT '{}',
    record_sha256   text
);
CREATE INDEX runs_experiment_start ON runs (experiment_id, start_time DESC, run_id);

CREATE TABLE run_tags (
    run_id uuid NOT NULL REFERENCES runs,
    key    text NOT NULL,
    value  text NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX run_tags_key_value ON run_tags (key, value);

CREATE TABLE params (
    run_id uuid NOT NULL REFERENCES runs,
    key    text NOT NULL,
    value  text NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX params_key_value ON params (key, value);

-- Append-only; the same (key, step) may hold several values at several timestamps, as in MLflow.
CREATE TABLE metrics (
    run_id    uuid             NOT NULL REFERENCES runs,
    key       text             NOT NULL,
    step      bigint           NOT NULL CHECK (step >= 0),
    timestamp bigint           NOT NULL,
    value     double precision NOT NULL
);
CREATE INDEX metrics_run_key_step ON metrics (run_id, key, step);

CREATE TABLE latest_metrics (
    run_id    uuid             NOT NULL REFERENCES runs,
    key       text             NOT NULL,
    step      bigint           NOT NULL,
    timestamp bigint           NOT NULL,
    value     double precision NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX latest_metrics_key_value ON latest_metrics (key, value);

CREATE TABLE dataset_inputs (
    run_id         uuid        NOT NULL REFERENCES runs,
    ordinal        integer     NOT NULL,
    dataset_id     text        NOT NULL,
    hash           text        NOT NULL,
    snapshot_at    timestamptz,
    feature_groups text[]      NOT NULL DEFAULT '{}',
    range_start    timestamptz,
    range_end      timestamptz,
    source_uri     text        NOT NULL DEFAULT '',
    context        text        NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, ordinal),
    UNIQUE (run_id, dataset_id, hash, context)
);

-- Who wrote what: one row per write to a run or an experiment (start, log batch, provenance, end, delete, restore).
CREATE TABLE tracking_audit (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id bigint      NOT NULL REFERENCES experiments,
    run_id        uuid        REFERENCES runs,
    actor         text        NOT NULL,
    action        text        NOT NULL,
    detail        jsonb       NOT NULL DEFAULT '{}',
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tracking_audit_run ON tracking_audit (run_id, id);
