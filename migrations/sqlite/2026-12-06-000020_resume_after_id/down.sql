ALTER TABLE job_resume DROP COLUMN after_id;
