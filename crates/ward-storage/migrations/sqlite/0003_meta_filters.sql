-- Sigma meta filters (mf_*) each organisation keeps to tune out its own false positives
-- without editing upstream rules.
CREATE TABLE meta_filters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_code   TEXT NOT NULL REFERENCES organisations(ods_code),
    name       TEXT NOT NULL,
    yaml       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX meta_filters_org ON meta_filters(org_code);
