-- Threat intelligence: STIX objects by version (what TAXII serves), the indicator values
-- derived from them (what matching, the API and exports use), reports against indicators,
-- TAXII collections and add-object statuses, and feed connectors with their state.
--
-- Every row carries its access facts (owner, TLP rank 0 CLEAR .. 4 RED, MISP distribution
-- 0..4 with the sharing group, the distribution once the TLP cap is applied, the owner's
-- community and the communities connected to it as "|a|b|") so that who may read it is
-- decided inside the one query that fetches a page.
CREATE TABLE intel_collections (
    id          TEXT PRIMARY KEY,
    api_root    TEXT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT,
    alias       TEXT,
    -- roles that may POST, comma separated (central_analyst,org_lead,org_viewer,member_system)
    write_roles TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE intel_objects (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id    TEXT NOT NULL REFERENCES intel_collections(id),
    stix_id          TEXT NOT NULL,
    stix_type        TEXT NOT NULL,
    spec_version     TEXT NOT NULL,
    version          TEXT NOT NULL,
    version_ms       BIGINT NOT NULL,
    -- microseconds, strictly increasing over the table: the TAXII paging key
    date_added       BIGINT NOT NULL,
    is_latest        INTEGER NOT NULL,
    owner_org        TEXT NOT NULL,
    tlp              INTEGER NOT NULL,
    distribution     INTEGER NOT NULL,
    sharing_group    BIGINT,
    eff_distribution INTEGER NOT NULL,
    community        TEXT NOT NULL,
    connected        TEXT NOT NULL,
    object           TEXT NOT NULL
);
CREATE UNIQUE INDEX intel_objects_version ON intel_objects(collection_id, stix_id, version_ms);
CREATE INDEX intel_objects_page ON intel_objects(collection_id, date_added);
CREATE INDEX intel_objects_added ON intel_objects(date_added);

CREATE TABLE intel_indicators (
    indicator_id     TEXT NOT NULL,
    kind             TEXT NOT NULL,
    value            TEXT NOT NULL,
    name             TEXT,
    description      TEXT,
    labels           TEXT NOT NULL,
    owner_org        TEXT NOT NULL,
    tlp              INTEGER NOT NULL,
    distribution     INTEGER NOT NULL,
    sharing_group    BIGINT,
    eff_distribution INTEGER NOT NULL,
    community        TEXT NOT NULL,
    connected        TEXT NOT NULL,
    confidence       INTEGER NOT NULL,
    valid_from       BIGINT NOT NULL,
    valid_until      BIGINT,
    source           TEXT NOT NULL,
    last_seen        BIGINT,
    sightings        BIGINT NOT NULL,
    false_positives  BIGINT NOT NULL,
    -- microseconds, strictly increasing: the API's paging key and "what is new since"
    date_added       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (indicator_id, kind, value)
);
CREATE INDEX intel_indicators_added ON intel_indicators(date_added);
CREATE INDEX intel_indicators_updated ON intel_indicators(updated_at);
CREATE INDEX intel_indicators_value ON intel_indicators(value);

-- Sightings and false-positive reports, as filed (the counters on intel_indicators are
-- their sums).
CREATE TABLE intel_reports (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    indicator_id TEXT NOT NULL,
    kind         TEXT NOT NULL,
    org_code     TEXT,
    count        BIGINT NOT NULL,
    note         TEXT,
    seen_at      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX intel_reports_indicator ON intel_reports(indicator_id);

CREATE TABLE intel_taxii_status (
    id         TEXT PRIMARY KEY,
    api_root   TEXT NOT NULL,
    owner      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE intel_feeds (
    name          TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    url           TEXT NOT NULL,
    config        TEXT NOT NULL,
    interval_secs BIGINT NOT NULL,
    enabled       INTEGER NOT NULL,
    state         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
