-- Alerting: configuration versions, alerts, aggregation groups with their notification log, silences and the
-- deliveries that carry notifications to receivers. Every replica works on these tables; a group is flushed by one
-- replica at a time (a row lock), and a delivery is sent by one (a lease), so N replicas send one notification.

CREATE TABLE config_versions (
    version     integer PRIMARY KEY,
    yaml        text        NOT NULL,
    sha256      text        NOT NULL,
    author      text        NOT NULL,
    comment     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Fingerprints are Prometheus's unsigned 64-bit label hashes, stored with the same bits as bigint.
CREATE TABLE alerts (
    fingerprint    bigint      PRIMARY KEY,
    labels         jsonb       NOT NULL,
    annotations    jsonb       NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    timeout        boolean     NOT NULL,
    generator_url  text,
    updated_at     timestamptz NOT NULL,
    source         text        NOT NULL
);
CREATE INDEX alerts_ends_at ON alerts (ends_at);
CREATE INDEX alerts_labels ON alerts USING gin (labels jsonb_path_ops);

-- An aggregation group: the alerts of one route sharing its group labels. group_id is unique in the tree (the route's
-- position included); group_key is Alertmanager's, as receivers see it.
CREATE TABLE alert_groups (
    group_id        text        PRIMARY KEY,
    group_key       text        NOT NULL,
    receiver        text        NOT NULL,
    group_labels    jsonb       NOT NULL,
    config_version  integer     NOT NULL,
    next_flush_at   timestamptz NOT NULL,
    has_flushed     boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_groups_due ON alert_groups (next_flush_at);

CREATE TABLE group_alerts (
    group_id     text   NOT NULL REFERENCES alert_groups ON DELETE CASCADE,
    fingerprint  bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
    PRIMARY KEY (group_id, fingerprint)
);
CREATE INDEX group_alerts_fingerprint ON group_alerts (fingerprint);

-- What each integration was last told about each group (Alertmanager's nflog), kept after the group is gone so that
-- a group that comes back is judged against it until it expires.
CREATE TABLE notification_log (
    group_id     text        NOT NULL,
    integration  text        NOT NULL,
    firing       bigint[]    NOT NULL,
    resolved     bigint[]    NOT NULL,
    notified_at  timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (group_id, integration)
);

CREATE TABLE silences (
    id          uuid        PRIMARY KEY,
    matchers    jsonb       NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_by  text        NOT NULL,
    comment     text        NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX silences_ends_at ON silences (ends_at);

-- A notification decided for one integration, sent (with retries) by whichever replica leases it. The payload is the
-- vendor's body, built when the notification was decided; the target (a secret) is read from the configuration
-- version at send time and never stored here.
CREATE TABLE deliveries (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id         text        NOT NULL,
    group_key        text        NOT NULL,
    group_labels     jsonb       NOT NULL,
    receiver         text        NOT NULL,
    integration      text        NOT NULL,
    config_version   integer     NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    firing           boolean     NOT NULL,
    alerts           bigint[]    NOT NULL,
    payload          bytea       NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    leased_until     timestamptz,
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_group ON deliveries (group_id, integration, id);
CREATE INDEX deliveries_alerts ON deliveries USING gin (alerts);
