-- `changes_record_queue (status, job, record_id, score, id)` answers every query the
-- `(status, job)` index did; the second index only cost each inserted change and each
-- status change one more b-tree update.
DROP INDEX changes_status;
