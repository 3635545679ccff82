-- One change of the world, one announcement: a detector's signals are grouped into episodes. An episode opens with a
-- signal (and is announced) and closes after a run of values with no signal and no warning; signals inside it are
-- counted (drifts) but not announced again. Episodes are counted from this migration on.
ALTER TABLE detectors
    ADD COLUMN episode_open  boolean NOT NULL DEFAULT false,
    ADD COLUMN episode_quiet bigint  NOT NULL DEFAULT 0,
    ADD COLUMN episodes      bigint  NOT NULL DEFAULT 0;
