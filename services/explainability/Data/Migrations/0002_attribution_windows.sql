-- Production windows judged for attribution drift (modelops.explainability.v1.AttributionWindow), and per version the
-- state last announced: drifting while an AttributionDriftDetected stands that no AttributionDriftResolved has followed.
CREATE TABLE attribution_windows (
    model        text        NOT NULL,
    version      integer     NOT NULL,
    window_start timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    body         bytea       NOT NULL,
    PRIMARY KEY (model, version, window_start)
);

CREATE TABLE attribution_states (
    model      text        NOT NULL,
    version    integer     NOT NULL,
    drifting   boolean     NOT NULL,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (model, version)
);
