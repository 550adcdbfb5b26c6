-- 0001: assignments, candidates, groups, memberships, uploads, hand-ins, submissions, receipts.
-- Times are UTC text in one fixed-width format (storage/timefmt.py), so they sort as text.

CREATE TABLE guild_settings (
    guild_id      INTEGER PRIMARY KEY,
    staff_role_id INTEGER,
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    locale        TEXT NOT NULL DEFAULT 'en'
);

CREATE TABLE assignments (
    id             INTEGER PRIMARY KEY,
    guild_id       INTEGER NOT NULL,
    name           TEXT NOT NULL CHECK (length(trim(name)) > 0),
    -- casefolded name: SQLite's NOCASE folds ASCII only, names may be in any script
    name_key       TEXT NOT NULL,
    opens_at       TEXT NOT NULL,
    closes_at      TEXT NOT NULL,
    late_until     TEXT,
    -- `/assignment close`: a hard stop for every group, leaving deadlines (and so late flags)
    -- as they were
    closed_at      TEXT,
    group_mode     TEXT NOT NULL CHECK (group_mode IN ('predefined', 'open', 'password')),
    auto_submit    INTEGER NOT NULL DEFAULT 1 CHECK (auto_submit IN (0, 1)),
    submit_once    INTEGER NOT NULL DEFAULT 0 CHECK (submit_once IN (0, 1)),
    max_group_size INTEGER CHECK (max_group_size IS NULL OR max_group_size >= 1),
    max_file_mb    REAL NOT NULL DEFAULT 10 CHECK (max_file_mb > 0),
    file_types     TEXT,
    single_editor  INTEGER NOT NULL DEFAULT 0 CHECK (single_editor IN (0, 1)),
    anonymous      INTEGER NOT NULL DEFAULT 1 CHECK (anonymous IN (0, 1)),
    role_id        INTEGER,
    channel_id     INTEGER,
    reminders      TEXT NOT NULL DEFAULT '86400,3600',
    created_by     INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    exported_at    TEXT,
    CHECK (closes_at > opens_at),
    CHECK (late_until IS NULL OR late_until > closes_at),
    UNIQUE (guild_id, name_key)
);
-- Backs the rule even for a writer that set a careless name_key (NOCASE folds ASCII only).
CREATE UNIQUE INDEX assignments_guild_name_nocase ON assignments (guild_id, name COLLATE NOCASE);

CREATE TABLE candidates (
    assignment_id INTEGER NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL,
    number        INTEGER NOT NULL CHECK (number BETWEEN 10000 AND 99999),
    display_name  TEXT NOT NULL DEFAULT '',
    registered_at TEXT NOT NULL,
    PRIMARY KEY (assignment_id, user_id),
    UNIQUE (assignment_id, number)
);

CREATE TABLE groups (
    id             INTEGER PRIMARY KEY,
    assignment_id  INTEGER NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
    pin            TEXT NOT NULL CHECK (length(pin) = 4 AND pin GLOB '[0-9][0-9][0-9][0-9]'),
    name           TEXT,
    name_key       TEXT,
    password       TEXT,
    closes_at      TEXT,
    finalized_at   TEXT,
    lease_user_id  INTEGER,
    lease_until    TEXT,
    created_by     INTEGER,
    created_at     TEXT NOT NULL,
    UNIQUE (assignment_id, pin),
    UNIQUE (assignment_id, name_key),
    UNIQUE (id, assignment_id)
);

CREATE TABLE memberships (
    assignment_id INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    group_id      INTEGER NOT NULL,
    joined_at     TEXT NOT NULL,
    -- one group per candidate per assignment
    PRIMARY KEY (assignment_id, user_id),
    FOREIGN KEY (group_id, assignment_id) REFERENCES groups(id, assignment_id) ON DELETE CASCADE,
    FOREIGN KEY (assignment_id, user_id) REFERENCES candidates(assignment_id, user_id)
        ON DELETE CASCADE
);
CREATE INDEX memberships_group ON memberships(group_id);

-- max_group_size holds in the schema too, whatever the code path.
CREATE TRIGGER memberships_group_size BEFORE INSERT ON memberships
WHEN (SELECT max_group_size FROM assignments WHERE id = NEW.assignment_id) IS NOT NULL
 AND (SELECT count(*) FROM memberships WHERE group_id = NEW.group_id)
     >= (SELECT max_group_size FROM assignments WHERE id = NEW.assignment_id)
BEGIN
    SELECT RAISE(ABORT, 'group is full');
END;

CREATE TABLE uploads (
    id             INTEGER PRIMARY KEY,
    group_id       INTEGER NOT NULL REFERENCES groups(id),
    user_id        INTEGER NOT NULL,
    filename       TEXT NOT NULL,
    size           INTEGER NOT NULL CHECK (size > 0),
    sha256         TEXT NOT NULL CHECK (length(sha256) = 64),
    content_type   TEXT,
    sent_at        TEXT NOT NULL,
    stored_at      TEXT NOT NULL,
    late           INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    -- the Discord interaction that carried it: a retried delivery is recorded once
    interaction_id INTEGER UNIQUE
);
CREATE INDEX uploads_group_sent ON uploads(group_id, sent_at, id);

CREATE TABLE handins (
    id        INTEGER PRIMARY KEY,
    group_id  INTEGER NOT NULL REFERENCES groups(id),
    upload_id INTEGER NOT NULL REFERENCES uploads(id),
    user_id   INTEGER NOT NULL,
    sent_at   TEXT NOT NULL,
    late      INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1))
);
CREATE INDEX handins_group_sent ON handins(group_id, sent_at, id);

-- Each finalization of a group adds a revision; the highest is the group's final submission.
CREATE TABLE submissions (
    group_id    INTEGER NOT NULL REFERENCES groups(id),
    revision    INTEGER NOT NULL CHECK (revision >= 1),
    upload_id   INTEGER REFERENCES uploads(id),
    handin_id   INTEGER REFERENCES handins(id),
    late        INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (group_id, revision)
);

-- The receipt outbox: written in the finalizing transaction, delivered afterwards, so a restart
-- sends exactly the receipts not yet sent.
CREATE TABLE receipts (
    id           INTEGER PRIMARY KEY,
    group_id     INTEGER NOT NULL REFERENCES groups(id),
    revision     INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    replaces     INTEGER NOT NULL DEFAULT 0 CHECK (replaces IN (0, 1)),
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'undeliverable', 'superseded')),
    created_at   TEXT NOT NULL,
    delivered_at TEXT,
    UNIQUE (group_id, revision, user_id),
    FOREIGN KEY (group_id, revision) REFERENCES submissions(group_id, revision)
);
CREATE INDEX receipts_pending ON receipts(status) WHERE status = 'pending';

-- DMs that could not be delivered (receipts, reminders, notices), shown to staff.
CREATE TABLE undelivered_dms (
    id            INTEGER PRIMARY KEY,
    assignment_id INTEGER NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    at            TEXT NOT NULL
);
CREATE INDEX undelivered_dms_assignment ON undelivered_dms(assignment_id);

CREATE TABLE join_failures (
    id            INTEGER PRIMARY KEY,
    assignment_id INTEGER NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL,
    at            TEXT NOT NULL
);
CREATE INDEX join_failures_user ON join_failures(assignment_id, user_id, at);

CREATE TABLE reminders_sent (
    assignment_id INTEGER NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
    due_at        TEXT NOT NULL,
    sent_at       TEXT NOT NULL,
    PRIMARY KEY (assignment_id, due_at)
);

CREATE TABLE bot_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
