-- The trace that brought an entry (W3C traceparent of the consumer's or Append's span), so that the sequencer's work on
-- it shows in the same trace. Not part of the entry's data or hash.
ALTER TABLE ledger_entries ADD COLUMN trace_parent text;
