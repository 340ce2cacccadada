DROP TABLE job_resume;
DROP TABLE job_leases;
