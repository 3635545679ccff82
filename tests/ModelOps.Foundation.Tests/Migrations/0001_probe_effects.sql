-- What the probe consumer did: one row per handling, deliberately without a unique key,
-- so that a consumer acting twice on one event would show as two rows.
CREATE TABLE probe_effects (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id  uuid NOT NULL,
    probe     text NOT NULL,
    trace_id  text
);
