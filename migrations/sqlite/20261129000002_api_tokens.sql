-- API tokens for service accounts (`odcs token create|list|revoke`): only
-- the SHA-256 of each token is kept; the token itself is shown once. A
-- revoked or expired token authenticates nobody; its row stays, so `list`
-- tells who had which.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    token_sha256 TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    time_created BIGINT NOT NULL,
    time_expires BIGINT NOT NULL,
    time_revoked BIGINT,
    time_last_used BIGINT
);
