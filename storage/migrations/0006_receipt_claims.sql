-- 0006: a receipt being sent is claimed, so two bot processes never both send it. The claim
-- runs out at `claimed_until` (seconds since 1970 on the database's clock, never a process's),
-- so a receipt claimed by a process that died is sent by another (with the same nonce), and
-- `claimed_by` (the process's HANDIN_INSTANCE) lets a restarted process take its own back at once.
-- (Written as 0004 beside the parts and the calendar; renumbered when they were merged.)
ALTER TABLE receipts ADD COLUMN claimed_until DOUBLE PRECISION;
ALTER TABLE receipts ADD COLUMN claimed_by TEXT;
