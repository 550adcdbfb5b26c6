-- 0005: each assignment's Discord scheduled event (its deadline in the guild's calendar).
-- The same schema as 0005_scheduled_events.sql, with PostgreSQL's types for Discord ids.

CREATE TABLE scheduled_events (
    assignment_id BIGINT PRIMARY KEY REFERENCES assignments(id) ON DELETE CASCADE,
    wanted        INTEGER NOT NULL DEFAULT 1 CHECK (wanted IN (0, 1)),
    event_id      BIGINT
);

CREATE TABLE calendar_warnings (
    guild_id BIGINT PRIMARY KEY,
    at       TEXT COLLATE "C" NOT NULL
);
