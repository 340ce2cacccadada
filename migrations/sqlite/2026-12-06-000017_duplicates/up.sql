-- Duplicates inside a job's CRM records. The clusters a pass found, a record per row:
-- the next pass keeps a cluster's id while its members stay, and `since_pass` says
-- since when a record has been in its cluster.
CREATE TABLE duplicate_clusters (
    job TEXT NOT NULL,
    record_id TEXT NOT NULL,
    cluster_id TEXT NOT NULL,
    since_pass BIGINT NOT NULL,
    PRIMARY KEY (job, record_id)
);
CREATE INDEX duplicate_clusters_cluster ON duplicate_clusters (job, cluster_id);

-- A proposed merge of one cluster: the survivor and the golden record (each value with the
-- record it came from, as JSON), for a steward to approve or reject. `fingerprint` is a
-- digest of the members and their values: a rejected merge is not proposed again until it
-- changes.
CREATE TABLE merges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    entity TEXT NOT NULL,
    cluster_id TEXT NOT NULL,
    pass_id BIGINT NOT NULL,
    survivor TEXT NOT NULL,
    members TEXT NOT NULL,
    golden TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    weakest_link DOUBLE PRECISION NOT NULL,
    review BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    decided_by TEXT,
    decided_at TIMESTAMP,
    error TEXT
);
CREATE INDEX merges_cluster ON merges (job, cluster_id);
CREATE INDEX merges_status ON merges (status, job);

-- Records a steward split out of a cluster: each such pair is never joined in one cluster
-- again, whatever links them.
CREATE TABLE duplicate_splits (
    job TEXT NOT NULL,
    record_a TEXT NOT NULL,
    record_b TEXT NOT NULL,
    merge_id BIGINT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at TIMESTAMP NOT NULL,
    PRIMARY KEY (job, record_a, record_b)
);
