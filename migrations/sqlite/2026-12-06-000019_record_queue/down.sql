DROP INDEX changes_record_queue;
