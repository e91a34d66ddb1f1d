-- The spine: members, people, keys, contacts, detections, incidents, outbox.
-- Times are epoch milliseconds (BIGINT) so SQLite and PostgreSQL share every query.
CREATE TABLE organisations (
    ods_code   TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    region     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    org_code   TEXT REFERENCES organisations(ods_code),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    org_code     TEXT NOT NULL REFERENCES organisations(ods_code),
    label        TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE contacts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_code   TEXT NOT NULL REFERENCES organisations(ods_code),
    name       TEXT NOT NULL,
    phone      TEXT,
    email      TEXT,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX contacts_org ON contacts(org_code);

CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    scope           TEXT NOT NULL,
    rule_id         TEXT NOT NULL,
    title           TEXT NOT NULL,
    severity        BIGINT NOT NULL,
    org_code        TEXT,
    host            TEXT,
    status          TEXT NOT NULL,
    parent_id       BIGINT,
    opened_at       BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    detection_count BIGINT NOT NULL,
    org_count       BIGINT NOT NULL
);
CREATE INDEX incidents_grouping ON incidents(rule_id, scope, org_code, host, last_seen_at);

CREATE TABLE incident_orgs (
    incident_id BIGINT NOT NULL,
    org_code    TEXT NOT NULL,
    joined_at   BIGINT NOT NULL,
    PRIMARY KEY (incident_id, org_code)
);

-- The rules a national incident covers: an outbreak often trips several rules at once.
CREATE TABLE incident_rules (
    incident_id BIGINT NOT NULL,
    rule_id     TEXT NOT NULL,
    PRIMARY KEY (incident_id, rule_id)
);
CREATE INDEX incident_rules_rule ON incident_rules(rule_id);

CREATE TABLE detections (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_offset   BIGINT NOT NULL,
    org_code       TEXT NOT NULL,
    rule_id        TEXT NOT NULL,
    rule_title     TEXT NOT NULL,
    rule_author    TEXT,
    level          TEXT NOT NULL,
    tags           TEXT NOT NULL,
    matched_fields TEXT NOT NULL,
    host           TEXT,
    event          TEXT NOT NULL,
    received_at    BIGINT NOT NULL,
    detected_at    BIGINT NOT NULL,
    incident_id    BIGINT NOT NULL
);
CREATE INDEX detections_org_time ON detections(org_code, detected_at);
CREATE INDEX detections_incident ON detections(incident_id);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     BIGINT NOT NULL,
    org_code        TEXT NOT NULL,
    contact_id      BIGINT,
    contact_name    TEXT NOT NULL,
    channel         TEXT NOT NULL,
    destination     TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    reference       TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    provider_id     TEXT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_incident ON outbox(incident_id);

CREATE TABLE notification_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id    BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    outcome      TEXT NOT NULL,
    http_status  BIGINT,
    detail       TEXT NOT NULL
);
CREATE INDEX attempts_outbox ON notification_attempts(outbox_id);

CREATE TABLE consumer_offsets (
    consumer    TEXT PRIMARY KEY,
    next_offset BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
