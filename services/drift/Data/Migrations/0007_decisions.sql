-- A model's decision log (its monitoring policy's decision_log): each record ingested with a request id, kept until
-- expires_at so that the decision made for a request can be shown and explained later. One row per version that scored
-- the request; a record sent again keeps the first row. The threshold is the reference's when the record arrived, so
-- a later reference does not rewrite a decision already made.
CREATE TABLE decisions (
    model         text               NOT NULL,
    request_id    text               NOT NULL,
    version       text               NOT NULL,
    decided_at    timestamptz        NOT NULL,
    columns       text[]             NOT NULL,
    "values"      double precision[] NOT NULL,
    label_columns text[]             NOT NULL,
    labels        text[]             NOT NULL,
    prediction    double precision,
    threshold     double precision,
    expires_at    timestamptz        NOT NULL,
    PRIMARY KEY (model, request_id, version)
);
CREATE INDEX decisions_by_version ON decisions (model, version, decided_at DESC, request_id);
CREATE INDEX decisions_expiry ON decisions USING brin (expires_at);
