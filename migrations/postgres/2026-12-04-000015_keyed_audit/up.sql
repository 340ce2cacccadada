-- Audit entries are keyed from now on: HMAC-SHA256 under a key kept outside the store, the
-- hash starting with `hmac:`. Entries already here keep their plain hashes and verify by
-- the rule of their time. A new entry without the key is refused, so that an older refsync
-- still running against this store cannot mix unkeyed entries into the keyed chain.
CREATE FUNCTION refsync_audit_log_keyed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.hash NOT LIKE 'hmac:%' THEN
        RAISE EXCEPTION 'audit_log takes keyed entries only: write them with a refsync that has the audit key';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_keyed BEFORE INSERT ON audit_log
FOR EACH ROW EXECUTE FUNCTION refsync_audit_log_keyed();

-- TRUNCATE fires no row trigger, so the append-only trigger never sees it: without one of
-- its own it would empty the log in one statement.
CREATE FUNCTION refsync_audit_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: TRUNCATE is refused';
END
$$;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION refsync_audit_log_no_truncate();
