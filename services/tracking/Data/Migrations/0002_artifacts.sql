-- A run's artifacts: one row per path, naming the content by its SHA-256. The bytes live once per hash in the object
-- store (blobs/sha256/<2 hex>/<hash>), so identical files logged by many runs are stored once. Rows are never
-- updated: a path, once recorded, keeps its content.
CREATE TABLE artifacts (
    run_id       uuid        NOT NULL REFERENCES runs,
    path         text        NOT NULL COLLATE "C",
    sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size         bigint      NOT NULL CHECK (size >= 0),
    content_type text        NOT NULL,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, path)
);
CREATE INDEX artifacts_sha256 ON artifacts (sha256);
