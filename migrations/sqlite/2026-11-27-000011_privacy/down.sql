DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
ALTER TABLE audit_log DROP COLUMN redacted;
ALTER TABLE audit_log DROP COLUMN values_digest;
DROP TABLE erased_subjects;
DROP TABLE consents;
DROP TABLE erasures;
