-- Members' log sources for the syslog listeners: a client certificate (SHA-256 fingerprint or
-- subject common name) or a source network (CIDR) identifies the organisation a connection
-- speaks for. One identity belongs to one organisation only.
CREATE TABLE log_sources (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_code   TEXT NOT NULL REFERENCES organisations(ods_code),
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    label      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (kind, value)
);
CREATE INDEX log_sources_org ON log_sources(org_code);

-- How long each member's events are kept, in days. No row: the federation default.
CREATE TABLE org_retention (
    org_code       TEXT PRIMARY KEY REFERENCES organisations(ods_code),
    retention_days BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
