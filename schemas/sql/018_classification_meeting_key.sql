-- 018: no foreign-key check when a classification is stored. It was the last per-row
-- check of a completion: a query and a lock on the meeting's row for each classification,
-- about a sixth of the completion's time in Postgres. The completion stores a
-- classification only while its meeting exists (a task whose meeting is gone fails with
-- NOT_FOUND), and deleting meetings still deletes their classifications, by this trigger.
ALTER TABLE classifications DROP CONSTRAINT classifications_meeting_id_fkey;

CREATE FUNCTION delete_meeting_classifications() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- By the primary key, whatever the number of meetings deleted.
  DELETE FROM classifications c WHERE c.meeting_id = ANY (ARRAY(SELECT o.id FROM old_rows o));
  RETURN NULL;
END
$$;
CREATE TRIGGER meetings_delete_classifications AFTER DELETE ON meetings
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION delete_meeting_classifications();
