-- Param and tag values up to 6,000 and 8,000 characters do not fit a b-tree entry whole (at most 2,704 bytes) when
-- they do not compress: index their MD5 instead, which equality searches name alongside the value.
DROP INDEX params_key_value;
CREATE INDEX params_key_value_md5 ON params (key, md5(value)) INCLUDE (run_id);
DROP INDEX run_tags_key_value;
CREATE INDEX run_tags_key_value_md5 ON run_tags (key, md5(value)) INCLUDE (run_id);
