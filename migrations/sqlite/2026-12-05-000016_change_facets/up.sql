-- The review queue's tabs count changes by status and field on every page: an index that
-- holds both answers the count without reading the rows.
CREATE INDEX changes_status_field ON changes (status, field);
