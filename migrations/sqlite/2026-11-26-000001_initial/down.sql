DROP TABLE job_cursors;
DROP TABLE suppressions;
DROP TABLE provenance;
DROP TABLE matches;
DROP TABLE record_status;
DROP TABLE audit_log;
DROP TABLE changes;
DROP TABLE passes;
