-- A digest of what decided each record's outcome (its values, what the store remembers of
-- it, the job's settings, the model and the register's content) as the next pass will find
-- them: a pass leaves a record whose digest is unchanged as it stands. NULL: score it again.
ALTER TABLE record_status ADD COLUMN inputs BIGINT;
-- Records a pass left as they stood, because nothing that decides them had changed.
ALTER TABLE passes ADD COLUMN unchanged BIGINT NOT NULL DEFAULT 0;
