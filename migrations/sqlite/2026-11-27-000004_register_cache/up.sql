-- Answers of remote registers, keyed by request, so a pass within the TTL asks nothing.
-- key_hash keeps the primary key short (a batch request can be kilobytes); request is
-- compared on read, so a hash collision is a miss, never a wrong answer.
CREATE TABLE register_cache (
    register TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    request TEXT NOT NULL,
    body TEXT NOT NULL,
    last_update TEXT,
    fetched_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (register, key_hash)
);
CREATE INDEX register_cache_expires ON register_cache (expires_at);
