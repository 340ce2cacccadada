-- Consent per contact and advertising channel (UWG §7). Append-only: a revocation is a new
-- row. Rows go only when their contact was erased: at once for letter, e-mail, fax and
-- SMS, five years after the erasure for telephone (UWG §7a keeps that proof).
CREATE TABLE consents (
    id BIGSERIAL PRIMARY KEY,
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

CREATE FUNCTION refsync_consents_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (
        SELECT 1 FROM erasures e
        WHERE e.crm = OLD.crm AND e.record_id = OLD.contact_id
          AND (OLD.channel <> 'phone'
               OR e.erased_at < (now() AT TIME ZONE 'UTC') - interval '5 years')
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'consents is append-only: record a revocation as a new row';
END
$$;
CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents
FOR EACH ROW EXECUTE FUNCTION refsync_consents_append_only();

-- Audit values can be tombstoned (erasure) or pseudonymised (retention) without breaking
-- the hash chain: entries now chain a digest of their values, kept when the values go.
-- Entries written before this migration chain their values themselves and stay as they are.
ALTER TABLE audit_log ADD COLUMN values_digest TEXT;
ALTER TABLE audit_log ADD COLUMN redacted TEXT;
CREATE OR REPLACE FUNCTION refsync_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND OLD.values_digest IS NOT NULL
        AND NEW.values_digest IS NOT DISTINCT FROM OLD.values_digest
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
        AND (NEW.id, NEW.at, NEW.actor, NEW.action, NEW.job, NEW.pass_id, NEW.change_id,
             NEW.entity, NEW.record_id, NEW.field, NEW.source, NEW.score, NEW.prev_hash,
             NEW.hash)
            IS NOT DISTINCT FROM
            (OLD.id, OLD.at, OLD.actor, OLD.action, OLD.job, OLD.pass_id, OLD.change_id,
             OLD.entity, OLD.record_id, OLD.field, OLD.source, OLD.score, OLD.prev_hash,
             OLD.hash)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
