DROP TRIGGER audit_log_keyed;
