-- Fairness in production: per window and group of the sensitive columns a model's monitoring policy names, the records
-- and those predicted 1 (written by every ingest call), and the confusion counts of the labelled ones (written as labels
-- join). Every column is a sum, so calls and replicas add to it exactly. group_key is the JSON object of the record's
-- values of the sensitive columns, in the policy's order ({"sex": "F", "age_band": null}).

CREATE TABLE window_groups (
    model        text    NOT NULL,
    version      text    NOT NULL,
    count_window boolean NOT NULL,
    window_key   bigint  NOT NULL,
    group_key    text    NOT NULL,
    records      bigint  NOT NULL DEFAULT 0,
    selected     bigint  NOT NULL DEFAULT 0,
    tn           bigint  NOT NULL DEFAULT 0,
    fp           bigint  NOT NULL DEFAULT 0,
    fn           bigint  NOT NULL DEFAULT 0,
    tp           bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (model, version, count_window, window_key, group_key)
);

-- The group of a kept prediction, so that its label is counted in it.
ALTER TABLE predictions ADD COLUMN group_key text;
