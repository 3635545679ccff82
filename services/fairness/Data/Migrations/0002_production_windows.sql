-- Reports of production windows (one per window the drift service reported, from its counts per group), and whether a
-- model version's latest window crossed its fairness watch's limits: BiasDetected is announced when that turns true
-- for a watched version, BiasResolved when it turns false again.

CREATE TABLE window_reports (
    id           uuid        NOT NULL UNIQUE,
    model        text        NOT NULL,
    version      text        NOT NULL,
    window_start timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    body         bytea       NOT NULL,
    PRIMARY KEY (model, version, window_start)
);

CREATE TABLE bias_states (
    model      text        NOT NULL,
    version    text        NOT NULL,
    biased     boolean     NOT NULL,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (model, version)
);
