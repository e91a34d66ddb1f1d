-- State a consumer keeps between events (the correlator's sliding windows), committed in the
-- same transaction as its offset so that a restart resumes exactly where it stopped.
CREATE TABLE consumer_state (
    consumer   TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
