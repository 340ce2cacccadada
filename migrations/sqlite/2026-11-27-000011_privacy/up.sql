-- Consent per contact and advertising channel (UWG §7). Append-only: a revocation is a new
-- row. Rows go only when their contact was erased: at once for letter, e-mail, fax and
-- SMS, five years after the erasure for telephone (UWG §7a keeps that proof).
CREATE TABLE consents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    crm TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    given_at TIMESTAMP NOT NULL,
    evidence TEXT,
    recorded_by TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX consents_contact ON consents (crm, contact_id, channel);

-- Contacts erased under Art. 17: the CRM id only (no personal values), so the telephone
-- consent proofs kept for five years can be found and removed after them.
CREATE TABLE erasures (
    crm TEXT NOT NULL,
    record_id TEXT NOT NULL,
    job TEXT NOT NULL,
    crm_action TEXT NOT NULL,
    erased_by TEXT NOT NULL,
    erased_at TIMESTAMP NOT NULL,
    PRIMARY KEY (crm, record_id)
);

-- The suppression list of erased people: keyed hashes (HMAC-SHA256) of their identifying
-- values. A CRM record or imported row with one of them is skipped as `suppressed`.
CREATE TABLE erased_subjects (
    key_hash TEXT PRIMARY KEY NOT NULL,
    erased_at TIMESTAMP NOT NULL
);

CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
BEGIN SELECT RAISE(ABORT, 'consents is append-only: record a revocation as a new row'); END;
CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
WHEN NOT EXISTS (
    SELECT 1 FROM erasures e
    WHERE e.crm = OLD.crm AND e.record_id = OLD.contact_id
      AND (OLD.channel <> 'phone' OR e.erased_at < datetime('now', '-5 years'))
)
BEGIN SELECT RAISE(ABORT, 'consents is append-only: record a revocation as a new row'); END;

-- Audit values can be tombstoned (erasure) or pseudonymised (retention) without breaking
-- the hash chain: entries now chain a digest of their values, kept when the values go.
-- Entries written before this migration chain their values themselves and stay as they are.
ALTER TABLE audit_log ADD COLUMN values_digest TEXT;
ALTER TABLE audit_log ADD COLUMN redacted TEXT;
DROP TRIGGER audit_log_no_update;
-- COALESCE: a NULL in the comparison (NEW.redacted left NULL) must refuse, not pass.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN NOT COALESCE((
    OLD.values_digest IS NOT NULL
    AND NEW.values_digest IS OLD.values_digest
    AND NEW.redacted IN ('erased', 'retention')
    AND (NEW.redacted <> 'erased' OR (
        COALESCE(NEW.old_value, '[erased]') = '[erased]'
        AND COALESCE(NEW.new_value, '[erased]') = '[erased]'
        AND COALESCE(NEW.detail, '[erased]') = '[erased]'))
    AND (NEW.redacted <> 'retention' OR (
        COALESCE(NEW.old_value, 'pseudonym:') LIKE 'pseudonym:%'
        AND COALESCE(NEW.new_value, 'pseudonym:') LIKE 'pseudonym:%'
        AND COALESCE(NEW.detail, 'pseudonym:') LIKE 'pseudonym:%'))
    AND (OLD.redacted IS NULL OR (OLD.redacted = 'retention' AND NEW.redacted = 'erased'))
    AND NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.actor IS OLD.actor
    AND NEW.action IS OLD.action AND NEW.job IS OLD.job AND NEW.pass_id IS OLD.pass_id
    AND NEW.change_id IS OLD.change_id AND NEW.entity IS OLD.entity
    AND NEW.record_id IS OLD.record_id AND NEW.field IS OLD.field
    AND NEW.source IS OLD.source AND NEW.score IS OLD.score
    AND NEW.prev_hash IS OLD.prev_hash AND NEW.hash IS OLD.hash
), 0)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
