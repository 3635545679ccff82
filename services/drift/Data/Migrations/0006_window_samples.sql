-- Per window of a version whose policy watches explainability: a uniform sample of its records (bottom-k by priority,
-- a hash of the request id or a random key), kept in one row each with the numeric and boolean columns it had.
CREATE TABLE window_samples (
    model        text               NOT NULL,
    version      text               NOT NULL,
    count_window boolean            NOT NULL,
    window_key   bigint             NOT NULL,
    priority     bigint             NOT NULL,
    request_id   text               NOT NULL,
    columns      text[]             NOT NULL,
    "values"     double precision[] NOT NULL,
    kept_at      timestamptz        NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version, count_window, window_key, priority)
);
CREATE INDEX window_samples_age ON window_samples USING brin (kept_at);
