-- Every entry the ledger has accepted. An entry is written once, by whichever replica received it (event_id makes
-- redelivery a no-op), and given its place in the log (idx) by the single sequencer; after that it never changes.
CREATE TABLE ledger_entries (
    event_id      uuid        PRIMARY KEY,
    received      bigint      GENERATED ALWAYS AS IDENTITY,
    idx           bigint      UNIQUE,
    event_type    text        NOT NULL,
    actor         text        NOT NULL,
    occurred_at   timestamptz NOT NULL,
    data          bytea       NOT NULL,   -- RFC 8785 canonical JSON of the envelope: the leaf's entry
    leaf_hash     bytea       NOT NULL,   -- SHA-256(0x00 || data)
    received_at   timestamptz NOT NULL DEFAULT now(),
    sequenced_at  timestamptz
);

CREATE INDEX ledger_entries_unsequenced ON ledger_entries (received) WHERE idx IS NULL;
CREATE INDEX ledger_entries_leaf_hash ON ledger_entries (leaf_hash);

-- What each entry is about (model, run_id, model_version, ...), for "everything about one model".
CREATE TABLE ledger_subjects (
    kind      text NOT NULL,
    value     text NOT NULL,
    event_id  uuid NOT NULL,
    PRIMARY KEY (kind, value, event_id)
);

-- The hash of every perfect subtree completed so far: level 0 holds leaf hashes. An append writes O(log n) rows
-- and any root or proof reads O(log n) rows, so the tree is never rebuilt.
CREATE TABLE ledger_nodes (
    level  smallint NOT NULL,
    idx    bigint   NOT NULL,
    hash   bytea    NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The size and root of the sequenced tree: one row, locked by each sequencing transaction.
CREATE TABLE ledger_tree (
    id          integer     PRIMARY KEY CHECK (id = 1),
    size        bigint      NOT NULL,
    root        bytea       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO ledger_tree (id, size, root) VALUES (1, 0, sha256(''::bytea));

-- Signed checkpoints (C2SP tlog-checkpoint notes), one per tree size signed.
CREATE TABLE ledger_checkpoints (
    size       bigint      PRIMARY KEY,
    root       bytea       NOT NULL,
    note       text        NOT NULL,
    signed_at  timestamptz NOT NULL DEFAULT now()
);
