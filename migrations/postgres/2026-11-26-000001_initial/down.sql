DROP TABLE suppressions;
DROP TABLE provenance;
DROP TABLE matches;
DROP TABLE record_status;
DROP TABLE audit_log;
DROP FUNCTION refsync_audit_log_append_only();
DROP TABLE changes;
DROP TABLE passes;
