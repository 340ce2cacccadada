-- The review queue groups the open changes by record on every page (one card per record,
-- ordered by how many, how certain, how old): an index that holds all of it answers the
-- grouping in index order without reading the rows.
CREATE INDEX changes_record_queue ON changes (status, job, record_id, score, id);
