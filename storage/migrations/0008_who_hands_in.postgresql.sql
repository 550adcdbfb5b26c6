-- 0009: who hands in (SPEC §5b): staff on a group's behalf, and every member's agreement.

-- An upload staff stored for a group (`/groups handin`): `user_id` is the staff member's
-- Discord id, who has no candidate number.
ALTER TABLE uploads ADD COLUMN by_staff INTEGER NOT NULL DEFAULT 0 CHECK (by_staff IN (0, 1));

-- A staff hand-in says why; a student's has no reason (NULL). Kept short: it goes in a DM.
ALTER TABLE handins ADD COLUMN staff_reason TEXT
    CHECK (staff_reason IS NULL OR length(staff_reason) BETWEEN 1 AND 500);

-- Every current member must agree to the latest upload; implies auto_submit off.
ALTER TABLE assignments ADD COLUMN all_must_confirm INTEGER NOT NULL DEFAULT 0
    CHECK (all_must_confirm IN (0, 1));
ALTER TABLE assignments ADD CONSTRAINT assignments_confirm_needs_handin
    CHECK (all_must_confirm = 0 OR auto_submit = 0);

-- One member's agreement to one upload: keyed by both, so an agreement to an older upload can
-- never count for a newer one.
CREATE TABLE confirmations (
    upload_id    BIGINT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL,
    group_id     BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    confirmed_at TEXT NOT NULL,
    PRIMARY KEY (upload_id, user_id)
);
CREATE INDEX confirmations_group ON confirmations(group_id);

-- Only a current member of the upload's own group agrees.
CREATE FUNCTION confirmations_by_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM uploads WHERE id = NEW.upload_id AND group_id = NEW.group_id)
       OR NOT EXISTS (
            SELECT 1 FROM memberships WHERE group_id = NEW.group_id AND user_id = NEW.user_id
       ) THEN
        RAISE EXCEPTION 'confirmation by a non-member or for another group'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER confirmations_by_member BEFORE INSERT ON confirmations
FOR EACH ROW EXECUTE FUNCTION confirmations_by_member();

-- A join or a leave resets the group's agreement, whatever the code path.
CREATE FUNCTION memberships_reset_agreement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        DELETE FROM confirmations WHERE group_id = NEW.group_id;
    ELSE
        DELETE FROM confirmations WHERE group_id = OLD.group_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER memberships_reset_agreement AFTER INSERT OR DELETE ON memberships
FOR EACH ROW EXECUTE FUNCTION memberships_reset_agreement();
