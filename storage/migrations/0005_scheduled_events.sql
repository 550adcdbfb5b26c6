-- 0005: each assignment's Discord scheduled event (its deadline in the guild's calendar).

-- One row per assignment that was created with events on (`event:false` stores wanted = 0).
CREATE TABLE scheduled_events (
    assignment_id INTEGER PRIMARY KEY REFERENCES assignments(id) ON DELETE CASCADE,
    wanted        INTEGER NOT NULL DEFAULT 1 CHECK (wanted IN (0, 1)),
    event_id      INTEGER
);

-- Guilds whose staff were told the bot lacks Manage Events (told once).
CREATE TABLE calendar_warnings (
    guild_id INTEGER PRIMARY KEY,
    at       TEXT NOT NULL
);
