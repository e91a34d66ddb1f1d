-- Per-contact delivery channels beyond the contact's phone and e-mail: a webhook (URL, body
-- format, HMAC secret) and the order in which the contact wants to be reached. Kept beside
-- `contacts` so a contact without a row keeps the policy's own channel order.
CREATE TABLE contact_channels (
    contact_id     BIGINT PRIMARY KEY,
    webhook_url    TEXT,
    webhook_format TEXT NOT NULL DEFAULT 'json',
    webhook_secret TEXT,
    -- Comma-separated channel names in order of preference, e.g. 'webhook,sms,email'.
    channels       TEXT NOT NULL DEFAULT '',
    updated_at     BIGINT NOT NULL
);
