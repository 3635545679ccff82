-- References (profiled reference data per model version, revised when replaced), inference windows as mergeable
-- partial profiles written by every ingest call before it answers, and one report per closed window. No row of
-- production traffic is stored.

CREATE TABLE reference_profiles (
    model            text        NOT NULL,
    version          text        NOT NULL,
    revision         integer     NOT NULL,
    columns          jsonb       NOT NULL,   -- [{"name", "kind"}]
    window_seconds   bigint,
    window_records   bigint,
    lateness_seconds bigint      NOT NULL,
    source           text        NOT NULL,
    rows             bigint      NOT NULL,
    profile          bytea       NOT NULL,   -- modelops.drift.v1.StoredProfile
    created_by       text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version, revision),
    CHECK ((window_seconds IS NULL) <> (window_records IS NULL))
);

-- Count windows number records across replicas: a call takes a block of numbers under this row's lock and commits
-- its partials with it, so when `next` passes a window's end every record of that window is committed.
CREATE TABLE record_counters (
    model   text   NOT NULL,
    version text   NOT NULL,
    next    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (model, version)
);

CREATE TABLE window_partials (
    partial_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model        text        NOT NULL,
    version      text        NOT NULL,
    count_window boolean     NOT NULL,
    window_key   bigint      NOT NULL,   -- a time window's start (Unix seconds) or a count window's index
    first_at     timestamptz NOT NULL,
    last_at      timestamptz NOT NULL,
    rows         bigint      NOT NULL,
    profile      bytea       NOT NULL,
    due_at       timestamptz,            -- time windows: end + allowed lateness
    reported     boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX window_partials_pending ON window_partials (model, version, count_window, window_key) WHERE NOT reported;

CREATE TABLE window_reports (
    model              text             NOT NULL,
    version            text             NOT NULL,
    count_window       boolean          NOT NULL,
    window_key         bigint           NOT NULL,
    window_start       timestamptz      NOT NULL,
    window_end         timestamptz      NOT NULL,
    reference_revision integer          NOT NULL,
    rows               bigint           NOT NULL,
    drifted            boolean          NOT NULL,   -- any column drifted
    dataset_drifted    boolean          NOT NULL,
    drift_share        double precision NOT NULL,
    report             bytea            NOT NULL,   -- modelops.drift.v1.WindowReport
    reported_at        timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version, count_window, window_key)
);
CREATE INDEX window_reports_latest ON window_reports (model, version, window_end DESC);
