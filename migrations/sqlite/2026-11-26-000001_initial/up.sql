CREATE TABLE passes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    entity TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status TEXT NOT NULL,
    records_read BIGINT NOT NULL DEFAULT 0,
    matched_auto BIGINT NOT NULL DEFAULT 0,
    matched_review BIGINT NOT NULL DEFAULT 0,
    in_sync BIGINT NOT NULL DEFAULT 0,
    different BIGINT NOT NULL DEFAULT 0,
    not_found BIGINT NOT NULL DEFAULT 0,
    ambiguous BIGINT NOT NULL DEFAULT 0,
    lookup_failed BIGINT NOT NULL DEFAULT 0,
    inactive BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    changes_proposed BIGINT NOT NULL DEFAULT 0,
    changes_applied BIGINT NOT NULL DEFAULT 0,
    conflicts BIGINT NOT NULL DEFAULT 0,
    changes_failed BIGINT NOT NULL DEFAULT 0,
    pending_review BIGINT NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX passes_job ON passes (job, id);

CREATE TABLE changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pass_id BIGINT NOT NULL REFERENCES passes (id),
    job TEXT NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    source TEXT NOT NULL,
    register_id TEXT NOT NULL,
    field TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'field',
    old_value TEXT,
    new_value TEXT,
    policy TEXT NOT NULL,
    status TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    decided_by TEXT,
    applied_at TIMESTAMP,
    applying_since TIMESTAMP,
    reverts_change_id BIGINT,
    error TEXT
);
CREATE INDEX changes_record ON changes (job, record_id, field);
CREATE INDEX changes_status ON changes (status, job);
CREATE INDEX changes_pass ON changes (pass_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    job TEXT NOT NULL,
    pass_id BIGINT,
    change_id BIGINT,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field TEXT,
    old_value TEXT,
    new_value TEXT,
    source TEXT,
    score DOUBLE PRECISION,
    detail TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_record ON audit_log (job, record_id);
CREATE INDEX audit_at ON audit_log (at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE record_status (
    job TEXT NOT NULL,
    record_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    pass_id BIGINT NOT NULL,
    checked_at TIMESTAMP NOT NULL,
    verified_at TIMESTAMP,
    PRIMARY KEY (job, record_id)
);
CREATE INDEX record_status_status ON record_status (job, status);

CREATE TABLE matches (
    job TEXT NOT NULL,
    record_id TEXT NOT NULL,
    register_id TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    method TEXT NOT NULL,
    grade TEXT NOT NULL,
    pass_id BIGINT NOT NULL,
    matched_at TIMESTAMP NOT NULL,
    PRIMARY KEY (job, record_id)
);
CREATE INDEX matches_register ON matches (job, register_id);

-- What refsync last wrote into each CRM field: a different value there now means a person
-- edited it, and refsync will not overwrite it without review.
CREATE TABLE provenance (
    crm TEXT NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT,
    source TEXT NOT NULL,
    register_id TEXT NOT NULL,
    change_id BIGINT NOT NULL,
    pass_id BIGINT NOT NULL,
    written_at TIMESTAMP NOT NULL,
    PRIMARY KEY (crm, entity, record_id, field)
);

-- Register values a steward marked "wrong for this record": never proposed again.
CREATE TABLE suppressions (
    job TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field TEXT NOT NULL,
    value_key TEXT NOT NULL,
    value TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at TIMESTAMP NOT NULL,
    change_id BIGINT,
    PRIMARY KEY (job, record_id, field, value_key)
);

-- Where incremental passes of a job resume: the newest CRM "modified" value seen by the
-- last successful pass, and when the last full pass ran.
CREATE TABLE job_cursors (
    job TEXT PRIMARY KEY,
    cursor TEXT,
    full_pass_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
