-- Audit entries are keyed from now on: HMAC-SHA256 under a key kept outside the store, the
-- hash starting with `hmac:`. Entries already here keep their plain hashes and verify by
-- the rule of their time. A new entry without the key is refused, so that an older refsync
-- still running against this store cannot mix unkeyed entries into the keyed chain.
CREATE TRIGGER audit_log_keyed BEFORE INSERT ON audit_log
WHEN NEW.hash NOT LIKE 'hmac:%'
BEGIN SELECT RAISE(ABORT, 'audit_log takes keyed entries only: write them with a refsync that has the audit key'); END;
