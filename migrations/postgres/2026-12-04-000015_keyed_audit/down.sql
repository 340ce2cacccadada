DROP TRIGGER audit_log_no_truncate ON audit_log;
DROP FUNCTION refsync_audit_log_no_truncate();
DROP TRIGGER audit_log_keyed ON audit_log;
DROP FUNCTION refsync_audit_log_keyed();
