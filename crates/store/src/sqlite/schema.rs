//! The SQLite schema, as an ordered list of migrations (the runner is [`crate::schema::migrate`]).

use crate::schema::Migration;

/// Every migration, in version order (1, 2, ...).
///
/// Notes on the initial schema:
/// - Timestamps are unix nanoseconds (INTEGER), so they round-trip exactly and compare as numbers.
/// - `principals.home_workspace` is 0 for account principals rather than NULL, so the unique index treats all
///   account principals of an account as one home (NULLs would be distinct from each other).
/// - `unique_key` and `display_key` hold the Unicode lowercase (computed in Rust) of the unique attribute and of
///   `displayName`, for case-insensitive uniqueness and index lookups.
/// - `sqlite_stat1` is seeded so that the planner prefers the selective indexes (see the comment in the SQL).
/// - `memberships` and `assignments` are keyed both ways so that "members of a group", "groups of a member", "is X a
///   member of G" and "principals of a workspace" are all index probes; deleting a principal cascades to them and to
///   its tokens.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts, workspaces, settings, tokens, principals, memberships, assignments",
        sql: r#"
CREATE TABLE accounts (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    created INTEGER NOT NULL
) STRICT;

CREATE TABLE workspaces (
    id                  INTEGER PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    name                TEXT NOT NULL,
    identity_federation INTEGER NOT NULL,
    created             INTEGER NOT NULL
) STRICT;
CREATE INDEX workspaces_account ON workspaces (account_id, id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE principals (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    home_workspace INTEGER NOT NULL DEFAULT 0,
    unique_value   TEXT,
    unique_key     TEXT,
    external_id    TEXT,
    display_name   TEXT,
    display_key    TEXT,
    active         INTEGER,
    doc            TEXT NOT NULL,
    version        INTEGER NOT NULL,
    created        INTEGER NOT NULL,
    last_modified  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX principals_unique ON principals (account_id, home_workspace, kind, unique_key);
CREATE INDEX principals_external_id ON principals (account_id, home_workspace, kind, external_id);
CREATE INDEX principals_display ON principals (account_id, home_workspace, kind, display_key);

CREATE TABLE memberships (
    group_id  INTEGER NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX memberships_member ON memberships (member_id, group_id);

CREATE TABLE assignments (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    principal_id INTEGER NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    permissions  TEXT NOT NULL,
    PRIMARY KEY (workspace_id, principal_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX assignments_principal ON assignments (principal_id);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    hash         BLOB NOT NULL UNIQUE,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    workspace_id INTEGER REFERENCES workspaces (id),
    principal_id INTEGER REFERENCES principals (id) ON DELETE CASCADE,
    comment      TEXT NOT NULL,
    created      INTEGER NOT NULL,
    expires      INTEGER
) STRICT;
CREATE INDEX tokens_principal ON tokens (principal_id);

-- Planner statistics describing the data idplane is built for, rather than measuring an empty database: many
-- principals per account, home and kind; unique keys; a few groups per member. Without them SQLite guesses that the
-- (account_id, home_workspace, kind) prefix selects ~10 rows and prefers it to the membership index, so
-- `members[value eq "x"]` would read every group of the scope. A later ANALYZE replaces them with measured values.
ANALYZE;
DELETE FROM sqlite_stat1;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('principals', 'principals_unique', '1000000 100000 20000 10000 1'),
    ('principals', 'principals_external_id', '1000000 100000 20000 10000 2'),
    ('principals', 'principals_display', '1000000 100000 20000 10000 2'),
    ('memberships', 'memberships', '10000000 1000 1'),
    ('memberships', 'memberships_member', '10000000 10 1'),
    ('assignments', 'assignments', '1000000 10000 1'),
    ('assignments', 'assignments_principal', '1000000 2');
ANALYZE sqlite_schema;
"#,
        backfill: None,
    },
    Migration {
        version: 2,
        name: "token kinds",
        sql: r#"
-- What a token is for: 'admin' (first start, CLI), 'personal' (a workspace PAT), 'scim' (an account SCIM token).
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'admin';
CREATE INDEX tokens_account ON tokens (account_id, kind, workspace_id);
"#,
        backfill: None,
    },
    Migration {
        version: 3,
        name: "workspace values",
        sql: r#"
-- What a principal has in one workspace, apart from its identity: its entitlements and its roles there. An account
-- principal assigned to two workspaces may have different ones in each.
CREATE TABLE workspace_values (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    principal_id INTEGER NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    attribute    TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (workspace_id, principal_id, attribute, value)
) STRICT, WITHOUT ROWID;
CREATE INDEX workspace_values_principal ON workspace_values (principal_id);
"#,
        backfill: None,
    },
    Migration {
        version: 4,
        name: "membership references",
        sql: r#"
-- The `$ref` and `display` a client wrote for a member, echoed back as written; computed when NULL.
ALTER TABLE memberships ADD COLUMN ref TEXT;
ALTER TABLE memberships ADD COLUMN display TEXT;
"#,
        backfill: None,
    },
    Migration {
        version: 5,
        name: "audit log",
        sql: r#"
-- Who changed what, when, in which request: one row per change, written in the transaction of the change. No foreign
-- keys: an entry outlives what it describes. AUTOINCREMENT: an entry id is never reused, even after a purge.
CREATE TABLE audit_log (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at        INTEGER NOT NULL,
    account_id         TEXT NOT NULL,
    workspace_id       INTEGER,
    actor_kind         TEXT NOT NULL,
    actor_token_id     TEXT,
    actor_principal_id INTEGER,
    request_id         TEXT,
    resource_type      TEXT NOT NULL,
    resource_id        TEXT NOT NULL,
    operation          TEXT NOT NULL,
    changes            TEXT NOT NULL
) STRICT;
-- Newest first within an account, by actor, or by resource; and the oldest first, for the retention purge.
CREATE INDEX audit_log_account ON audit_log (account_id, occurred_at, id);
CREATE INDEX audit_log_actor ON audit_log (account_id, actor_principal_id, occurred_at, id);
CREATE INDEX audit_log_resource ON audit_log (account_id, resource_id, occurred_at, id);
CREATE INDEX audit_log_time ON audit_log (occurred_at);
-- As for the principals: statistics of a long-lived log, so that a filter on an actor or a resource uses its index.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('audit_log', 'audit_log_account', '1000000 100000 1 1'),
    ('audit_log', 'audit_log_actor', '1000000 100000 1000 1 1'),
    ('audit_log', 'audit_log_resource', '1000000 100000 10 1 1'),
    ('audit_log', 'audit_log_time', '1000000 1');
ANALYZE sqlite_schema;
"#,
        backfill: None,
    },
    Migration {
        version: 6,
        name: "email index",
        sql: r#"
-- The case-folded addresses of each user's emails (computed in Rust, as filters fold), so that `emails.value eq`,
-- which Entra ID's matching and Test Connection send, is an index lookup.
CREATE TABLE principal_emails (
    value_key    TEXT NOT NULL,
    principal_id INTEGER NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    PRIMARY KEY (value_key, principal_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX principal_emails_principal ON principal_emails (principal_id);
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('principal_emails', 'principal_emails', '1000000 1 1'),
    ('principal_emails', 'principal_emails_principal', '1000000 1');
ANALYZE sqlite_schema;
"#,
        backfill: Some(crate::schema::backfill_emails),
    },
    Migration {
        version: 7,
        name: "principals of a scope in id order",
        sql: r#"
-- A listing reads a scope's principals of one kind in id order, a page at a time: an index on the scope's prefix
-- (whose entries SQLite orders by rowid, the id, within it) serves the order, so that a page costs O(page) rather
-- than a sort of the whole scope. New ids grow with time, so new entries land at its end.
CREATE INDEX principals_scope ON principals (account_id, home_workspace, kind);
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('principals', 'principals_scope', '1000000 100000 20000 10000');
ANALYZE sqlite_schema;
"#,
        backfill: None,
    },
    Migration {
        version: 8,
        name: "provisioning: tenants, directory, applications, jobs, secrets",
        sql: r#"
-- The provisioning service's tables (the source side). Ids are GUID text; every table carries its tenant, and every
-- lookup is by tenant and id. A tenant's `change_seq` numbers its change feed: writers bump it in their transaction,
-- so that feed positions follow commit order.
CREATE TABLE tenants (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    default_domain TEXT NOT NULL,
    account_id     TEXT UNIQUE REFERENCES accounts (id),
    created        INTEGER NOT NULL,
    change_seq     INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE tenant_tokens (
    id        TEXT PRIMARY KEY,
    hash      BLOB NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    comment   TEXT NOT NULL,
    created   INTEGER NOT NULL,
    expires   INTEGER
) STRICT;
CREATE INDEX tenant_tokens_tenant ON tenant_tokens (tenant_id);

-- Users and groups. The *_key columns hold the lowercase of their property (computed in Rust), for the
-- case-insensitive lookups and filters Graph answers. `deleted` is when the object went to the deleted items; a
-- user principal name is unique among live users only (a deleted user's may be reused, as in Entra ID).
CREATE TABLE directory_objects (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    kind             TEXT NOT NULL,
    unique_key       TEXT,
    display_key      TEXT,
    mail_key         TEXT,
    nickname_key     TEXT,
    employee_key     TEXT,
    account_enabled  INTEGER,
    security_enabled INTEGER,
    mail_enabled     INTEGER,
    manager_id       TEXT REFERENCES directory_objects (id) ON DELETE SET NULL,
    doc              TEXT NOT NULL,
    deleted          INTEGER,
    version          INTEGER NOT NULL,
    created          INTEGER NOT NULL,
    last_modified    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX directory_objects_unique ON directory_objects (tenant_id, kind, unique_key) WHERE deleted IS NULL;
CREATE INDEX directory_objects_scope ON directory_objects (tenant_id, kind, id);
CREATE INDEX directory_objects_display ON directory_objects (tenant_id, kind, display_key);
CREATE INDEX directory_objects_mail ON directory_objects (tenant_id, kind, mail_key);
CREATE INDEX directory_objects_nickname ON directory_objects (tenant_id, kind, nickname_key);
CREATE INDEX directory_objects_employee ON directory_objects (tenant_id, kind, employee_key);
CREATE INDEX directory_objects_manager ON directory_objects (manager_id);
CREATE INDEX directory_objects_deleted ON directory_objects (tenant_id, deleted) WHERE deleted IS NOT NULL;

CREATE TABLE directory_members (
    group_id  TEXT NOT NULL REFERENCES directory_objects (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES directory_objects (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX directory_members_member ON directory_members (member_id, group_id);

-- The change feed: no foreign keys, an entry outlives its object.
CREATE TABLE directory_changes (
    tenant_id   TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    object_id   TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    change      TEXT NOT NULL,
    related_id  TEXT,
    at          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE applications (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    app_id        TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    template_id   TEXT,
    doc           TEXT NOT NULL,
    version       INTEGER NOT NULL,
    created       INTEGER NOT NULL
) STRICT;
CREATE INDEX applications_tenant ON applications (tenant_id, id);

CREATE TABLE service_principals (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    app_id              TEXT NOT NULL UNIQUE,
    application_id      TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    display_name        TEXT NOT NULL,
    template_id         TEXT,
    assignment_required INTEGER NOT NULL,
    doc                 TEXT NOT NULL,
    version             INTEGER NOT NULL,
    created             INTEGER NOT NULL
) STRICT;
CREATE INDEX service_principals_tenant ON service_principals (tenant_id, id);
CREATE INDEX service_principals_application ON service_principals (application_id);

CREATE TABLE app_role_assignments (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    resource_id    TEXT NOT NULL REFERENCES service_principals (id) ON DELETE CASCADE,
    principal_id   TEXT NOT NULL REFERENCES directory_objects (id) ON DELETE CASCADE,
    principal_type TEXT NOT NULL,
    app_role_id    TEXT NOT NULL,
    created        INTEGER NOT NULL,
    UNIQUE (resource_id, principal_id, app_role_id)
) STRICT;
CREATE INDEX app_role_assignments_resource ON app_role_assignments (resource_id, created, id);
CREATE INDEX app_role_assignments_principal ON app_role_assignments (principal_id);

CREATE TABLE sync_jobs (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    service_principal_id TEXT NOT NULL REFERENCES service_principals (id) ON DELETE CASCADE,
    template_id          TEXT NOT NULL,
    schedule             TEXT NOT NULL,
    status               TEXT NOT NULL,
    schema               TEXT,
    settings             TEXT NOT NULL,
    version              INTEGER NOT NULL,
    created              INTEGER NOT NULL,
    last_modified        INTEGER NOT NULL,
    UNIQUE (service_principal_id, template_id)
) STRICT;

CREATE TABLE sync_secrets (
    service_principal_id TEXT NOT NULL REFERENCES service_principals (id) ON DELETE CASCADE,
    key                  TEXT NOT NULL,
    sealed               BLOB NOT NULL,
    PRIMARY KEY (service_principal_id, key)
) STRICT, WITHOUT ROWID;

INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('directory_objects', 'directory_objects_unique', '1000000 100000 50000 1'),
    ('directory_objects', 'directory_objects_scope', '1000000 100000 50000 1'),
    ('directory_objects', 'directory_objects_display', '1000000 100000 50000 2'),
    ('directory_objects', 'directory_objects_mail', '1000000 100000 50000 2'),
    ('directory_objects', 'directory_objects_nickname', '1000000 100000 50000 2'),
    ('directory_objects', 'directory_objects_employee', '1000000 100000 50000 2'),
    ('directory_objects', 'directory_objects_manager', '1000000 10'),
    ('directory_members', 'directory_members', '10000000 1000 1'),
    ('directory_members', 'directory_members_member', '10000000 10 1'),
    ('app_role_assignments', 'app_role_assignments_principal', '100000 2');
ANALYZE sqlite_schema;
"#,
        backfill: None,
    },
    Migration {
        version: 9,
        name: "provisioning: run state, links, escrows",
        sql: r#"
-- What a provisioning job keeps between cycles. `sync_job_runs`: one row per started job, with its watermark in the
-- tenant's change feed, when it runs next, and the lease of the node running it (`lease_owner` until
-- `lease_expires`) with the progress of the cycle it runs; the scheduler reads the due rows by `next_run`. `sync_links`: the source object each target
-- object was provisioned from (an index on the target id answers "which source object is this"). `sync_escrows`:
-- failed objects and when to try them again. All go with their job.
CREATE TABLE sync_job_runs (
    job_id               TEXT PRIMARY KEY REFERENCES sync_jobs (id) ON DELETE CASCADE,
    tenant_id            TEXT NOT NULL,
    service_principal_id TEXT NOT NULL,
    watermark            INTEGER,
    next_run             INTEGER,
    schema_version       TEXT,
    data                 TEXT NOT NULL,
    lease_owner          TEXT,
    lease_expires        INTEGER,
    progress             TEXT
) STRICT;
CREATE INDEX sync_job_runs_due ON sync_job_runs (next_run);

CREATE TABLE sync_links (
    job_id       TEXT NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    source_id    TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    display_name TEXT NOT NULL,
    active       INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    PRIMARY KEY (job_id, source_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX sync_links_target ON sync_links (job_id, target_id);

CREATE TABLE sync_escrows (
    job_id       TEXT NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    source_id    TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    first_failed INTEGER NOT NULL,
    next_attempt INTEGER NOT NULL,
    error_code   TEXT NOT NULL,
    reason       TEXT NOT NULL,
    PRIMARY KEY (job_id, source_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX sync_escrows_due ON sync_escrows (job_id, next_attempt);
"#,
        backfill: None,
    },
    Migration {
        version: 10,
        name: "provisioning_logs",
        sql: r#"
-- One row per provisioning event (`idplane_provisioning::logs`): the record as JSON, and the columns filters use.
-- `activity` is the event's time in unix nanoseconds at Graph's precision (100 ns), the value it is shown and paged
-- at. No foreign keys: a record outlives its job, service principal and objects. Every equality a filter may ask
-- has an index starting with the tenant and ending with (activity, id), so that a page is read in order from it; the
-- display names are columns for `contains`, which no index serves. `provisioning_logs_time` orders a tenant's
-- listing without a filter, and `provisioning_logs_purge` finds the oldest records of every tenant for retention.
CREATE TABLE provisioning_logs (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    activity             INTEGER NOT NULL,
    job_id               TEXT NOT NULL,
    service_principal_id TEXT NOT NULL,
    cycle_id             TEXT NOT NULL,
    change_id            TEXT NOT NULL,
    action               TEXT NOT NULL,
    status               TEXT NOT NULL,
    source_id            TEXT NOT NULL,
    target_id            TEXT NOT NULL,
    source_name          TEXT NOT NULL,
    target_name          TEXT NOT NULL,
    record               TEXT NOT NULL
) STRICT;
CREATE INDEX provisioning_logs_time ON provisioning_logs (tenant_id, activity, id);
CREATE INDEX provisioning_logs_job ON provisioning_logs (tenant_id, job_id, activity, id);
CREATE INDEX provisioning_logs_principal ON provisioning_logs (tenant_id, service_principal_id, activity, id);
CREATE INDEX provisioning_logs_cycle ON provisioning_logs (tenant_id, cycle_id, activity, id);
CREATE INDEX provisioning_logs_change ON provisioning_logs (tenant_id, change_id, activity, id);
CREATE INDEX provisioning_logs_source ON provisioning_logs (tenant_id, source_id, activity, id);
CREATE INDEX provisioning_logs_target ON provisioning_logs (tenant_id, target_id, activity, id);
CREATE INDEX provisioning_logs_action ON provisioning_logs (tenant_id, action, activity, id);
CREATE INDEX provisioning_logs_status ON provisioning_logs (tenant_id, status, activity, id);
CREATE INDEX provisioning_logs_purge ON provisioning_logs (activity);
-- Statistics of a long-lived log (a million records, a few tenants, a few jobs, cycles of thousands, an object in a
-- handful of cycles, six actions, four statuses), so that the planner picks the index of the most selective clause
-- over the one that only saves a sort.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('provisioning_logs', 'provisioning_logs_time', '1000000 100000 1 1'),
    ('provisioning_logs', 'provisioning_logs_job', '1000000 100000 20000 1 1'),
    ('provisioning_logs', 'provisioning_logs_principal', '1000000 100000 20000 1 1'),
    ('provisioning_logs', 'provisioning_logs_cycle', '1000000 100000 2000 1 1'),
    ('provisioning_logs', 'provisioning_logs_change', '1000000 100000 1 1 1'),
    ('provisioning_logs', 'provisioning_logs_source', '1000000 100000 10 1 1'),
    ('provisioning_logs', 'provisioning_logs_target', '1000000 100000 10 1 1'),
    ('provisioning_logs', 'provisioning_logs_action', '1000000 100000 20000 1 1'),
    ('provisioning_logs', 'provisioning_logs_status', '1000000 100000 30000 1 1'),
    ('provisioning_logs', 'provisioning_logs_purge', '1000000 1');
ANALYZE sqlite_schema;
"#,
        backfill: None,
    },
    Migration {
        version: 11,
        name: "provisioning: on-premises agents, registration tokens, assignments, sessions",
        sql: r#"
-- On-premises agents (`idplane_provisioning::agents`). `agent_registration_tokens`: one-time tokens, by the SHA-256
-- of their value; an exchange deletes its token as it creates the agent. `agents`: the SHA-256 of each agent's
-- credential (NULL once revoked), unique so that connecting is one index lookup; `last_seen` and `round_trip_us`
-- come from the latest heartbeat. `agent_assignments`: which agents serve which service principal (an index from
-- the service principal finds an application's agents). `agent_sessions`: the hub's one live session per agent,
-- on whichever node holds its WebSocket. Assignments and sessions go with their agent.
CREATE TABLE agent_registration_tokens (
    id        TEXT PRIMARY KEY,
    hash      BLOB NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    created   INTEGER NOT NULL,
    expires   INTEGER NOT NULL
) STRICT;
CREATE INDEX agent_registration_tokens_expires ON agent_registration_tokens (expires);

CREATE TABLE agents (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    host_name       TEXT NOT NULL,
    version         TEXT NOT NULL,
    credential_hash BLOB UNIQUE,
    created         INTEGER NOT NULL,
    last_seen       INTEGER,
    round_trip_us   INTEGER
) STRICT;
CREATE INDEX agents_tenant ON agents (tenant_id, created, id);

CREATE TABLE agent_assignments (
    agent_id             TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    service_principal_id TEXT NOT NULL REFERENCES service_principals (id) ON DELETE CASCADE,
    tenant_id            TEXT NOT NULL,
    created              INTEGER NOT NULL,
    PRIMARY KEY (agent_id, service_principal_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX agent_assignments_application ON agent_assignments (service_principal_id, created, agent_id);

CREATE TABLE agent_sessions (
    agent_id       TEXT PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    tenant_id      TEXT NOT NULL,
    node_id        TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    connected      INTEGER NOT NULL,
    last_heartbeat INTEGER NOT NULL,
    round_trip_us  INTEGER
) STRICT;
"#,
        backfill: None,
    },
];
