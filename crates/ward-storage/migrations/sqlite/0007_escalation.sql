-- Incidents that reach people: triage fields, silences, escalation policies, on-call rotas,
-- chases (the escalation state, so a restart neither loses nor repeats a step), and what
-- each message's delivery became.
ALTER TABLE incidents ADD COLUMN tlp TEXT NOT NULL DEFAULT 'amber';

CREATE TABLE incident_assignees (
    incident_id BIGINT NOT NULL,
    assignee    TEXT NOT NULL,
    assigned_at BIGINT NOT NULL,
    assigned_by TEXT NOT NULL,
    PRIMARY KEY (incident_id, assignee)
);

-- A silenced detection is kept (incident_id 0) with the silence that caught it.
ALTER TABLE detections ADD COLUMN silence_id BIGINT;

CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_code   TEXT,
    matchers   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX silences_expiry ON silences(expires_at);

CREATE TABLE escalation_policies (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    org_code          TEXT NOT NULL REFERENCES organisations(ods_code),
    name              TEXT NOT NULL,
    min_severity      BIGINT NOT NULL,
    steps             TEXT NOT NULL,
    repeat_delay_secs BIGINT NOT NULL,
    max_rounds        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    UNIQUE (org_code, min_severity)
);

CREATE TABLE rotas (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_code   TEXT NOT NULL REFERENCES organisations(ods_code),
    name       TEXT NOT NULL,
    period     TEXT NOT NULL,
    starts_at  BIGINT NOT NULL,
    members    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE rota_overrides (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    rota_id    BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX rota_overrides_rota ON rota_overrides(rota_id, starts_at);

CREATE TABLE chases (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    target_kind TEXT NOT NULL,
    target_id   BIGINT NOT NULL,
    org_code    TEXT NOT NULL,
    policy_id   BIGINT NOT NULL,
    state       TEXT NOT NULL,
    steps_fired BIGINT NOT NULL,
    next_due_at BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    ended_by    TEXT,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    UNIQUE (target_kind, target_id, org_code)
);
CREATE INDEX chases_due ON chases(state, next_due_at);

-- Outbox rows a chase wrote, the channels left to fail over to, and the provider's view of
-- the delivery (Notify's delivery-status callbacks).
ALTER TABLE outbox ADD COLUMN chase_id BIGINT;
ALTER TABLE outbox ADD COLUMN failover_channels TEXT;
ALTER TABLE outbox ADD COLUMN failed_over_at BIGINT;
ALTER TABLE outbox ADD COLUMN delivery_status TEXT;
ALTER TABLE outbox ADD COLUMN delivery_status_at BIGINT;
CREATE INDEX outbox_chase ON outbox(chase_id);
CREATE INDEX outbox_provider ON outbox(provider_id);
