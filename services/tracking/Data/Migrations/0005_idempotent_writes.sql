-- Retried writes change nothing twice. A run started with a client request id is found again by it (per author); a
-- batch of metrics, params and tags written with a batch id is written once per run, and the ids written so far tell a
-- client whose stream broke which of its batches arrived.
ALTER TABLE runs ADD COLUMN client_request_id text;
CREATE UNIQUE INDEX runs_client_request ON runs (author, client_request_id) WHERE client_request_id IS NOT NULL;

CREATE TABLE applied_batches (
    run_id     uuid        NOT NULL REFERENCES runs,
    batch_id   text        NOT NULL COLLATE "C",
    metrics    integer     NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, batch_id)
);
