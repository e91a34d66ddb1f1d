-- Issue 7 and 6: authorised scan scopes (with an audit of every change), scan runs, their
-- refusals and findings with a lifecycle; members' estate (assets), vulnerability records
-- from KEV/NVD/OSV/CSAF, the state of each vulnerability feed, and draft advisory requests.
CREATE TABLE scan_scopes (
    id           TEXT PRIMARY KEY,
    org_code     TEXT NOT NULL REFERENCES organisations(ods_code),
    spec         TEXT NOT NULL,
    schedule     TEXT,
    next_run_at  BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX scan_scopes_org ON scan_scopes(org_code);

CREATE TABLE scan_scope_audit (
    id        BIGSERIAL PRIMARY KEY,
    scope_id  TEXT NOT NULL,
    org_code  TEXT NOT NULL,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT
);
CREATE INDEX scan_scope_audit_scope ON scan_scope_audit(scope_id, id);

CREATE TABLE scan_runs (
    id           BIGSERIAL PRIMARY KEY,
    scope_id     TEXT NOT NULL,
    org_code     TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    request      TEXT NOT NULL,
    status       TEXT NOT NULL,
    progress     TEXT,
    summary      TEXT,
    error        TEXT,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT
);
CREATE INDEX scan_runs_scope ON scan_runs(scope_id, id);

CREATE TABLE scan_refusals (
    id        BIGSERIAL PRIMARY KEY,
    run_id    BIGINT NOT NULL,
    scope_id  TEXT NOT NULL,
    org_code  TEXT NOT NULL,
    target    TEXT NOT NULL,
    code      TEXT NOT NULL,
    reason    TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX scan_refusals_run ON scan_refusals(run_id);

-- port = -1 when the finding is not about a port, so the identity is one plain unique key.
CREATE TABLE scan_findings (
    id             BIGSERIAL PRIMARY KEY,
    org_code       TEXT NOT NULL,
    scope_id       TEXT NOT NULL,
    host           TEXT NOT NULL,
    address        TEXT NOT NULL,
    port           BIGINT NOT NULL,
    check_id       TEXT NOT NULL,
    subject        TEXT NOT NULL,
    title          TEXT NOT NULL,
    severity       TEXT NOT NULL,
    evidence       TEXT NOT NULL,
    status         TEXT NOT NULL,
    first_seen     BIGINT NOT NULL,
    last_seen      BIGINT NOT NULL,
    fixed_at       BIGINT,
    accepted_until BIGINT,
    accepted_by    TEXT,
    last_run_id    BIGINT,
    incident_id    BIGINT,
    UNIQUE (org_code, address, port, check_id, subject)
);
CREATE INDEX scan_findings_org_status ON scan_findings(org_code, status);

CREATE TABLE assets (
    id             BIGSERIAL PRIMARY KEY,
    org_code       TEXT NOT NULL REFERENCES organisations(ods_code),
    asset_id       TEXT NOT NULL,
    body           TEXT NOT NULL,
    source         TEXT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (org_code, asset_id)
);

CREATE TABLE vuln_records (
    source     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (source, record_id)
);

CREATE TABLE vuln_feeds (
    feed       TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE advisory_drafts (
    id         BIGSERIAL PRIMARY KEY,
    cve        TEXT NOT NULL UNIQUE,
    summary    TEXT NOT NULL,
    members    TEXT NOT NULL,
    detail     TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
