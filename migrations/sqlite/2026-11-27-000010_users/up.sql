-- People who use the review UI and API. role: viewer, steward or admin. password_hash is
-- an argon2id PHC string; a disabled user can neither log in nor use a token.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE
);

-- Browser sessions. Only the SHA-256 of the cookie's token is kept, so a copy of the store
-- does not let anybody in; csrf is the per-session token every form carries.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    csrf TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Bearer tokens for scripts, hashed at rest like sessions; shown once when created.
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    label TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used TIMESTAMP
);
