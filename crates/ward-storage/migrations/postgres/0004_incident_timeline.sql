-- Every change of an incident's status: who, when, from what to what, and why.
CREATE TABLE incident_timeline (
    id          BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    comment     TEXT NOT NULL
);
CREATE INDEX incident_timeline_incident ON incident_timeline(incident_id);
