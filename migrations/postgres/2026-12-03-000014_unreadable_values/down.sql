ALTER TABLE passes DROP COLUMN unreadable_values;
