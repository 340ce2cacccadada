DROP TABLE job_cursors;
DROP TABLE job_leases;
