-- One row per job: which instance runs it (until expires_at) and the last slot claimed,
-- so several instances on one store run each slot of a job exactly once.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY NOT NULL,
    holder TEXT,
    acquired_at TIMESTAMP,
    expires_at TIMESTAMP,
    last_slot TIMESTAMP
);

-- How far the current sweep over a job's CRM records got: saved after each committed batch,
-- removed when a sweep completes. A pass stopped midway is continued by the next one.
CREATE TABLE job_resume (
    job TEXT PRIMARY KEY NOT NULL,
    next_offset BIGINT NOT NULL,
    pass_id BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
