-- The search index: one row per event of the log (by offset) and one per observable in it.
-- The original record is kept here deflate-compressed, so a hit is shown without reading the
-- event log back (which has no random access by offset and prunes on its own schedule).
CREATE TABLE search_events (
    -- INTEGER PRIMARY KEY: the offset is the rowid, so every index below ends in it.
    log_offset  INTEGER PRIMARY KEY,
    org_code    TEXT NOT NULL,
    event_time  BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    host        TEXT,
    class       TEXT NOT NULL,
    format      TEXT NOT NULL,
    parsed      BIGINT NOT NULL,
    body        BLOB NOT NULL
);
CREATE INDEX search_events_org_time ON search_events(org_code, event_time);
CREATE INDEX search_events_time ON search_events(event_time);
CREATE INDEX search_events_host_time ON search_events(host, event_time);

-- WITHOUT ROWID: the primary key is the (kind, value, time) index itself, so an observable
-- lookup is one B-tree range read and the table costs no second copy.
CREATE TABLE search_observables (
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    event_time BIGINT NOT NULL,
    log_offset BIGINT NOT NULL,
    org_code   TEXT NOT NULL,
    PRIMARY KEY (kind, value, event_time, log_offset)
) WITHOUT ROWID;
CREATE INDEX search_observables_offset ON search_observables(log_offset);
