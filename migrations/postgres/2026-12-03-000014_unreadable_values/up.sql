-- CRM values a pass could not read as their field (a birth date that is no date): they are
-- compared as missing and flagged; the count tells how many records matched without them.
ALTER TABLE passes ADD COLUMN unreadable_values BIGINT NOT NULL DEFAULT 0;
