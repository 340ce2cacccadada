DROP TABLE duplicate_seen;
