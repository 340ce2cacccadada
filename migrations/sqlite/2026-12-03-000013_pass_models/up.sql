-- The match model a pass scored with (comparisons, m/u, prior, as JSON): `refsync explain`
-- scores with it and so repeats the pass's decision, and the next pass of a remote
-- register starts from it.
CREATE TABLE pass_models (
    pass_id BIGINT PRIMARY KEY,
    job TEXT NOT NULL,
    model TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX pass_models_job ON pass_models (job, pass_id);
