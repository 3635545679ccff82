-- Predictions and their labels, concept-drift detectors, monitoring policies, and which versions are watched.

-- The reference says which column is the model's output and what it predicts.
ALTER TABLE reference_profiles
    ADD COLUMN prediction_column  text,
    ADD COLUMN task               text,   -- BinaryClassification, Regression, or NULL
    ADD COLUMN decision_threshold double precision NOT NULL DEFAULT 0.5;

-- One row per record ingested with a request id and a prediction, kept until its label joins it (the row is then
-- deleted: a second label for it finds nothing) or it expires (Drift:PredictionRetention): the one part of production
-- traffic the service stores. Rows arrive roughly in time order, so a BRIN index serves the expiry at little cost.
CREATE TABLE predictions (
    model        text             NOT NULL,
    version      text             NOT NULL,
    request_id   text             NOT NULL,
    count_window boolean          NOT NULL,
    window_key   bigint           NOT NULL,
    predicted_at timestamptz      NOT NULL,
    prediction   double precision NOT NULL,
    PRIMARY KEY (model, version, request_id)
);
CREATE INDEX predictions_age ON predictions USING brin (predicted_at);

-- Per window: predictions kept, and the performance of those labelled so far (modelops.drift.v1.StoredPerformance).
CREATE TABLE window_performance (
    model        text    NOT NULL,
    version      text    NOT NULL,
    count_window boolean NOT NULL,
    window_key   bigint  NOT NULL,
    predictions  bigint  NOT NULL DEFAULT 0,
    labelled     bigint  NOT NULL DEFAULT 0,
    performance  bytea,
    PRIMARY KEY (model, version, count_window, window_key)
);

-- Concept-drift detectors on a version's error stream, resumed by whichever replica takes the next labels.
CREATE TABLE detectors (
    model         text               NOT NULL,
    version       text               NOT NULL,
    detector      text               NOT NULL,   -- ADWIN, DDM, PAGE_HINKLEY
    state         double precision[] NOT NULL,
    last_state    text               NOT NULL,
    fed           bigint             NOT NULL DEFAULT 0,
    drifts        bigint             NOT NULL DEFAULT 0,
    last_drift_at timestamptz,
    PRIMARY KEY (model, version, detector)
);

-- A model's monitoring policy (modelops.drift.v1.MonitoringPolicy), revised, never rewritten.
CREATE TABLE monitoring_policies (
    model      text        NOT NULL,
    revision   integer     NOT NULL,
    policy     bytea       NOT NULL,
    reason     text        NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, revision)
);

-- Versions watched: in Production (from the registry's StageChanged) or watched by hand. `drifting` is the announced
-- state: a DriftDetected stands that no DriftResolved has followed.
CREATE TABLE watches (
    model      text        NOT NULL,
    version    text        NOT NULL,
    watched    boolean     NOT NULL,
    since      timestamptz NOT NULL,
    reason     text        NOT NULL,
    changed_by text        NOT NULL,
    changed_at timestamptz NOT NULL,   -- when the change happened (a StageChanged's time): older changes arriving later lose
    drifting   boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (model, version)
);
