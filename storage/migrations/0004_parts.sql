-- 0004: hand-ins in several parts (SPEC §6); existing assignments get none and work as before.

-- An assignment's parts, in the order staff gave them. A part's own file types replace the
-- assignment's `file_types` for uploads to it (NULL: the assignment's apply).
CREATE TABLE assignment_parts (
    id            INTEGER PRIMARY KEY,
    assignment_id INTEGER NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL CHECK (position >= 0),
    name          TEXT NOT NULL CHECK (
        length(name) BETWEEN 1 AND 32 AND name NOT GLOB '*[^A-Za-z0-9_-]*'
    ),
    -- lowercased name: part names are ASCII, so NOCASE-like folding is exact here
    name_key      TEXT NOT NULL CHECK (name_key = lower(name)),
    file_types    TEXT,
    UNIQUE (assignment_id, name_key),
    UNIQUE (id, assignment_id)
);

-- The part an upload is for; NULL for an assignment without parts. No ON DELETE: a part that
-- holds uploads cannot be removed (SPEC §6).
ALTER TABLE uploads ADD COLUMN part_id INTEGER REFERENCES assignment_parts(id);
CREATE INDEX uploads_group_part_sent ON uploads(group_id, part_id, sent_at, id);

-- An upload names a part of its own group's assignment, and one exactly when there are parts.
CREATE TRIGGER uploads_part_matches BEFORE INSERT ON uploads
WHEN (NEW.part_id IS NULL AND EXISTS (
        SELECT 1 FROM assignment_parts p JOIN groups g ON g.assignment_id = p.assignment_id
        WHERE g.id = NEW.group_id))
  OR (NEW.part_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM assignment_parts p JOIN groups g ON g.assignment_id = p.assignment_id
        WHERE g.id = NEW.group_id AND p.id = NEW.part_id))
BEGIN
    SELECT RAISE(ABORT, 'upload part does not match its assignment');
END;

-- A part's name is fixed once a group uploaded to it (a rename would change what was handed in).
CREATE TRIGGER assignment_parts_keep_name BEFORE UPDATE OF name, name_key ON assignment_parts
WHEN NEW.name_key != OLD.name_key AND EXISTS (SELECT 1 FROM uploads WHERE part_id = OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'part has uploads');
END;

-- Each part's final in a recorded revision of a group's submission (assignments with parts;
-- the revision's own upload_id stays NULL then). A part with no upload has no row.
CREATE TABLE submission_parts (
    group_id  INTEGER NOT NULL,
    revision  INTEGER NOT NULL,
    part_id   INTEGER NOT NULL REFERENCES assignment_parts(id),
    upload_id INTEGER NOT NULL REFERENCES uploads(id),
    handin_id INTEGER REFERENCES handins(id),
    late      INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    PRIMARY KEY (group_id, revision, part_id),
    FOREIGN KEY (group_id, revision) REFERENCES submissions(group_id, revision)
);
