-- Transactional outbox: a state change and the events describing it commit in one transaction;
-- the relay publishes pending rows in sequence order and marks them.
CREATE TABLE outbox_messages (
    sequence      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    message_type  text        NOT NULL,
    payload       jsonb       NOT NULL,
    trace_parent  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text
);

CREATE INDEX outbox_messages_pending ON outbox_messages (sequence) WHERE published_at IS NULL;

-- Idempotent inbox: one row per (event, consumer) that has been handled, written in the same
-- transaction as the handler's own changes.
CREATE TABLE inbox_messages (
    event_id      uuid        NOT NULL,
    consumer      text        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, consumer)
);
