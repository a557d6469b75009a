-- Composes requested by bus events (#17): what each rule last composed from
-- (a digest of the resolved input: the latest builds of its tag, or the
-- module build), so a rule composes only when that changes; and the
-- decision taken for each consumed message and rule, recorded in the
-- transaction that makes the compose (if any), so a message delivered again
-- is recognised and makes no second compose.
CREATE TABLE event_rules (
    name TEXT PRIMARY KEY,
    input_digest TEXT NOT NULL,
    compose_id BIGINT,
    time_changed BIGINT NOT NULL
);

CREATE TABLE event_decisions (
    message_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    -- composed | unchanged | refused
    decision TEXT NOT NULL,
    compose_id BIGINT,
    reason TEXT NOT NULL,
    time_decided BIGINT NOT NULL,
    PRIMARY KEY (message_id, rule)
);
