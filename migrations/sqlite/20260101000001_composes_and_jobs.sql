-- Composes, the exact package set of each done compose, and the job queue.
-- Times are integer seconds since the Unix epoch (UTC); lease times are
-- milliseconds, because leases are short.

CREATE TABLE composes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    source_type INTEGER NOT NULL,
    source TEXT NOT NULL,
    state INTEGER NOT NULL,
    state_reason TEXT,
    progress TEXT,
    time_submitted INTEGER NOT NULL,
    time_started INTEGER,
    time_done INTEGER,
    time_removed INTEGER,
    time_to_expire INTEGER NOT NULL,
    seconds_to_live INTEGER NOT NULL,
    removed_by TEXT,
    packages TEXT,
    builds TEXT,
    arches TEXT NOT NULL,
    sigkeys TEXT,
    flags INTEGER NOT NULL,
    results INTEGER NOT NULL,
    multilib_arches TEXT NOT NULL,
    multilib_method INTEGER NOT NULL,
    lookaside_repos TEXT,
    modular_koji_tags TEXT,
    module_defaults_url TEXT,
    koji_event INTEGER,
    koji_task_id INTEGER,
    label TEXT,
    compose_type TEXT,
    target_dir TEXT NOT NULL,
    pungi_compose_id TEXT,
    pungi_config_dump TEXT,
    scratch_modules TEXT,
    scratch_build_tasks TEXT,
    parent_pungi_compose_ids TEXT,
    modules TEXT,
    respin_of TEXT,
    base_module_br_name TEXT,
    base_module_br_stream TEXT,
    base_module_br_stream_version_lte INTEGER,
    base_module_br_stream_version_gte INTEGER,
    reused_id INTEGER REFERENCES composes (id),
    fingerprint TEXT
);

CREATE INDEX composes_state ON composes (state);
CREATE INDEX composes_source_type_state ON composes (source_type, state);
CREATE INDEX composes_time_to_expire ON composes (time_to_expire);
CREATE INDEX composes_reused_id ON composes (reused_id);
CREATE INDEX composes_owner ON composes (owner);
CREATE INDEX composes_fingerprint ON composes (fingerprint);

CREATE TABLE compose_rpms (
    compose_id INTEGER NOT NULL REFERENCES composes (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    nevra TEXT NOT NULL,
    srpm_nevra TEXT NOT NULL,
    arch TEXT NOT NULL,
    category TEXT NOT NULL,
    path TEXT NOT NULL,
    sigkey TEXT,
    checksum TEXT NOT NULL,
    build_nvr TEXT NOT NULL,
    source_path TEXT NOT NULL,
    PRIMARY KEY (compose_id, position)
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    compose_id INTEGER NOT NULL REFERENCES composes (id),
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    lease_until_ms INTEGER,
    time_enqueued INTEGER NOT NULL,
    time_finished INTEGER
);

CREATE INDEX jobs_claimable ON jobs (state, id);
CREATE INDEX jobs_compose_id ON jobs (compose_id);
-- At most one live job of each kind per compose: enqueueing twice is harmless.
CREATE UNIQUE INDEX jobs_one_live ON jobs (compose_id, kind) WHERE state IN ('queued', 'running');
