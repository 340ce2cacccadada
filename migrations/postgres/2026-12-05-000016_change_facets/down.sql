DROP INDEX changes_status_field;
