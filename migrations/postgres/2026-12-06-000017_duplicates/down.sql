DROP TABLE merges;
DROP TABLE duplicate_clusters;
