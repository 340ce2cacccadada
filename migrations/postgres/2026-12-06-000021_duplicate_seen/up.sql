-- What the duplicates stage last compared of each of a job's records: a digest of its values
-- (and of the job's comparison settings). The next pass compares only the records whose
-- digest differs, or that are new, with the rest; the pairs of two records it saw as they
-- are stand as they were scored.
CREATE TABLE duplicate_seen (
    job TEXT NOT NULL,
    record_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (job, record_id)
);
