DROP TABLE duplicate_splits;
DROP TABLE merges;
DROP TABLE duplicate_clusters;
