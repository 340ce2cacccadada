-- A steward's verdict on a match: is this register record the same entity as the CRM
-- record? Kept per job, record and register record (a later verdict on the same pair
-- replaces the earlier; the audit log keeps both), with the match probability at the time,
-- so `refsync tune` can measure precision and recall of the thresholds.
CREATE TABLE match_verdicts (
    job TEXT NOT NULL,
    record_id TEXT NOT NULL,
    register_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    verdict TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    pass_id BIGINT,
    decided_by TEXT NOT NULL,
    decided_at TIMESTAMP NOT NULL,
    PRIMARY KEY (job, record_id, register_id)
);
