-- Count windows can start at one instant: a window is its start and, for a count window, its number (-1 for a time
-- window), so two count windows that start together are both judged.
ALTER TABLE attribution_windows ADD COLUMN count_window bigint NOT NULL DEFAULT -1;
ALTER TABLE attribution_windows DROP CONSTRAINT attribution_windows_pkey;
ALTER TABLE attribution_windows ADD PRIMARY KEY (model, version, window_start, count_window);
