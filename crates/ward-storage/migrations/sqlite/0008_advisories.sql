-- Advisories (High Severity Alerts), their recipients' answers, and everything that happened.
-- Lists (affected products, actions, references, CVEs) and the target are JSON text.
CREATE TABLE advisories (
    id             TEXT PRIMARY KEY,
    year           BIGINT NOT NULL,
    seq            BIGINT NOT NULL,
    title          TEXT NOT NULL,
    summary        TEXT NOT NULL,
    severity       TEXT NOT NULL,
    tlp            TEXT NOT NULL,
    affected       TEXT NOT NULL,
    actions        TEXT NOT NULL,
    refs           TEXT NOT NULL,
    cves           TEXT NOT NULL,
    target         TEXT NOT NULL,
    status         TEXT NOT NULL,
    source         TEXT NOT NULL,
    -- Set for drafts made by a feed (e.g. kev:CVE-2024-3400) so a feed seen twice makes one.
    source_key     TEXT UNIQUE,
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    published_at   BIGINT,
    closed_at      BIGINT,
    ack_ms         BIGINT,
    update_ms      BIGINT,
    remediation_ms BIGINT,
    UNIQUE (year, seq)
);

CREATE TABLE advisory_recipients (
    advisory_id        TEXT NOT NULL,
    org_code           TEXT NOT NULL,
    notified_at        BIGINT NOT NULL,
    acknowledged_at    BIGINT,
    acknowledged_by    TEXT,
    applicability      TEXT,
    applicability_note TEXT,
    responded_at       BIGINT,
    responded_by       TEXT,
    last_update_at     BIGINT,
    update_count       BIGINT NOT NULL,
    closed_at          BIGINT,
    closed_by          TEXT,
    close_note         TEXT,
    reminders          BIGINT NOT NULL,
    PRIMARY KEY (advisory_id, org_code)
);
CREATE INDEX advisory_recipients_org ON advisory_recipients(org_code);

CREATE TABLE advisory_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    advisory_id TEXT NOT NULL,
    org_code    TEXT,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX advisory_log_advisory ON advisory_log(advisory_id);
