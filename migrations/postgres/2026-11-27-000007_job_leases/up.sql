-- One row per job: which instance runs it (until expires_at) and the last slot claimed,
-- so several instances on one store run each slot of a job exactly once.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT,
    acquired_at TIMESTAMP,
    expires_at TIMESTAMP,
    last_slot TIMESTAMP
);
