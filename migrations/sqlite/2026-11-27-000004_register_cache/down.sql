DROP TABLE register_cache;
