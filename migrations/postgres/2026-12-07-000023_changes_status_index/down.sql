CREATE INDEX changes_status ON changes (status, job);
