-- 0007: feedback back to the groups (SPEC §7), purges and retention (SPEC §9).

-- A group's feedback: a draft until its assignment's feedback is released. One per group;
-- importing again replaces the assignment's whole draft.
CREATE TABLE feedback (
    group_id      INTEGER PRIMARY KEY REFERENCES groups(id) ON DELETE CASCADE,
    assignment_id INTEGER NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
    grade         TEXT NOT NULL DEFAULT '',
    comment       TEXT NOT NULL DEFAULT '',
    imported_at   TEXT NOT NULL
);
CREATE INDEX feedback_assignment ON feedback(assignment_id);

-- The files of a group's feedback, content-addressed in the file store like uploads.
CREATE TABLE feedback_files (
    group_id INTEGER NOT NULL REFERENCES feedback(group_id) ON DELETE CASCADE,
    position INTEGER NOT NULL CHECK (position >= 0),
    filename TEXT NOT NULL CHECK (length(filename) > 0),
    size     INTEGER NOT NULL CHECK (size > 0),
    sha256   TEXT NOT NULL CHECK (length(sha256) = 64),
    PRIMARY KEY (group_id, position),
    UNIQUE (group_id, filename)
);
CREATE INDEX feedback_files_sha ON feedback_files(sha256);

-- Released once: from then on students see it, and no draft replaces it.
CREATE TABLE feedback_releases (
    assignment_id INTEGER PRIMARY KEY REFERENCES assignments(id) ON DELETE CASCADE,
    released_at   TEXT NOT NULL,
    released_by   INTEGER
);

-- The feedback DM outbox, one row per member, with the receipts' delivery rules: written with
-- the release, sent after it, claimed on the database's clock while being sent.
CREATE TABLE feedback_deliveries (
    id              INTEGER PRIMARY KEY,
    group_id        INTEGER NOT NULL REFERENCES feedback(group_id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'undeliverable')),
    created_at      TEXT NOT NULL,
    delivered_at    TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    claimed_until   DOUBLE PRECISION,
    claimed_by      TEXT,
    UNIQUE (group_id, user_id)
);
CREATE INDEX feedback_deliveries_pending ON feedback_deliveries(status) WHERE status = 'pending';

-- A purged assignment keeps its row (its name and dates: "purged at ..." in the staff list);
-- everything of its students is gone.
CREATE TABLE assignment_purges (
    assignment_id INTEGER PRIMARY KEY REFERENCES assignments(id) ON DELETE CASCADE,
    purged_at     TEXT NOT NULL,
    files_deleted INTEGER NOT NULL DEFAULT 0
);

-- `/settings retention_days`: closed assignments are purged that many days after they closed
-- (NULL: never).
ALTER TABLE guild_settings ADD COLUMN retention_days INTEGER CHECK (retention_days >= 1);

-- The week-ahead notice to staff before an automatic purge, sent once.
CREATE TABLE retention_notices (
    assignment_id INTEGER PRIMARY KEY REFERENCES assignments(id) ON DELETE CASCADE,
    purge_at      TEXT NOT NULL,
    noticed_at    TEXT NOT NULL
);
