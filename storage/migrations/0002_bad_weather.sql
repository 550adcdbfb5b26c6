-- 0002: DM failures by kind (retries, reasons), reminders' start, users' languages, kept notices.

-- A receipt that failed for a passing reason stays pending until `next_attempt_at`.
ALTER TABLE receipts ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE receipts ADD COLUMN next_attempt_at TEXT;
ALTER TABLE receipts ADD COLUMN last_error TEXT;

-- Why a DM could not be delivered (`closed`, `refused:50001`, ...), for staff.
ALTER TABLE undelivered_dms ADD COLUMN reason TEXT NOT NULL DEFAULT '';

-- When the reminder offsets were last set (create, a new deadline, new offsets): an offset that
-- was already past then is skipped; one that passed while the bot was down is caught up.
ALTER TABLE assignments ADD COLUMN reminders_from TEXT;
UPDATE assignments SET reminders_from = created_at;

-- The locale of each user's latest interaction: DMs speak it.
CREATE TABLE user_locales (
    user_id INTEGER PRIMARY KEY,
    locale  TEXT NOT NULL,
    seen_at TEXT NOT NULL
);

-- Upload notices still queued when the bot stopped, sent at the next start.
CREATE TABLE pending_notices (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
