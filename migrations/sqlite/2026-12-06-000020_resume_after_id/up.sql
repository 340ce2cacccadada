-- A sweep resumes after the id of its last committed record (keyset paging), not after a
-- count of records: a row without it (left by an older version) starts the sweep over.
ALTER TABLE job_resume ADD COLUMN after_id TEXT;
