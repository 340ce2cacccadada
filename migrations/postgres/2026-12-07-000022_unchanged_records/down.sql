ALTER TABLE passes DROP COLUMN unchanged;
ALTER TABLE record_status DROP COLUMN inputs;
