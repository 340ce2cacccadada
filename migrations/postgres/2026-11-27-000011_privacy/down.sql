CREATE OR REPLACE FUNCTION refsync_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
ALTER TABLE audit_log DROP COLUMN redacted;
ALTER TABLE audit_log DROP COLUMN values_digest;
DROP TRIGGER consents_append_only ON consents;
DROP FUNCTION refsync_consents_append_only();
DROP TABLE erased_subjects;
DROP TABLE consents;
DROP TABLE erasures;
