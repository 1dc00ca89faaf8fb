//! The PostgreSQL schema, as an ordered list of migrations (the runner is [`crate::schema::migrate`]). Versions match the SQLite ones (the same schema, version for version), spelled for PostgreSQL: BIGINT
//! for integers and unix-nanosecond timestamps, BOOLEAN for flags, BYTEA for token hashes, and `COLLATE "C"` on
//! every text column that is compared or sorted, so that comparisons are byte-wise (code point order) as in SQLite
//! and as the shared SQL assumes, whatever the database's default collation.

use crate::schema::Migration;

/// Every migration, in version order (1, 2, ...). SQLite's planner statistics (`sqlite_stat1`) have no counterpart:
/// PostgreSQL's autovacuum measures the data.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts, workspaces, settings, tokens, principals, memberships, assignments",
        sql: r#"
CREATE TABLE accounts (
    id      TEXT COLLATE "C" PRIMARY KEY,
    name    TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE workspaces (
    id                  BIGINT PRIMARY KEY,
    account_id          TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    name                TEXT NOT NULL,
    identity_federation BOOLEAN NOT NULL,
    created             BIGINT NOT NULL
);
CREATE INDEX workspaces_account ON workspaces (account_id, id);

CREATE TABLE settings (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE principals (
    id             BIGINT PRIMARY KEY,
    kind           TEXT COLLATE "C" NOT NULL,
    account_id     TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    home_workspace BIGINT NOT NULL DEFAULT 0,
    unique_value   TEXT COLLATE "C",
    unique_key     TEXT COLLATE "C",
    external_id    TEXT COLLATE "C",
    display_name   TEXT COLLATE "C",
    display_key    TEXT COLLATE "C",
    active         BOOLEAN,
    doc            TEXT NOT NULL,
    version        BIGINT NOT NULL,
    created        BIGINT NOT NULL,
    last_modified  BIGINT NOT NULL
);
CREATE UNIQUE INDEX principals_unique ON principals (account_id, home_workspace, kind, unique_key);
CREATE INDEX principals_external_id ON principals (account_id, home_workspace, kind, external_id);
CREATE INDEX principals_display ON principals (account_id, home_workspace, kind, display_key);

CREATE TABLE memberships (
    group_id  BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    member_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX memberships_member ON memberships (member_id, group_id);

CREATE TABLE assignments (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    permissions  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, principal_id)
);
CREATE INDEX assignments_principal ON assignments (principal_id);

CREATE TABLE tokens (
    id           TEXT COLLATE "C" PRIMARY KEY,
    hash         BYTEA NOT NULL UNIQUE,
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    workspace_id BIGINT REFERENCES workspaces (id),
    principal_id BIGINT REFERENCES principals (id) ON DELETE CASCADE,
    comment      TEXT NOT NULL,
    created      BIGINT NOT NULL,
    expires      BIGINT
);
CREATE INDEX tokens_principal ON tokens (principal_id);
"#,
        backfill: None,
    },
    Migration {
        version: 2,
        name: "token kinds",
        sql: r#"
ALTER TABLE tokens ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'admin';
CREATE INDEX tokens_account ON tokens (account_id, kind, workspace_id);
"#,
        backfill: None,
    },
    Migration {
        version: 3,
        name: "workspace values",
        sql: r#"
CREATE TABLE workspace_values (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    attribute    TEXT COLLATE "C" NOT NULL,
    value        TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, principal_id, attribute, value)
);
CREATE INDEX workspace_values_principal ON workspace_values (principal_id);
"#,
        backfill: None,
    },
    Migration {
        version: 4,
        name: "membership references",
        sql: r#"
ALTER TABLE memberships ADD COLUMN ref TEXT;
ALTER TABLE memberships ADD COLUMN display TEXT;
"#,
        backfill: None,
    },
    Migration {
        version: 5,
        name: "audit log",
        sql: r#"
CREATE TABLE audit_log (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at        BIGINT NOT NULL,
    account_id         TEXT COLLATE "C" NOT NULL,
    workspace_id       BIGINT,
    actor_kind         TEXT COLLATE "C" NOT NULL,
    actor_token_id     TEXT COLLATE "C",
    actor_principal_id BIGINT,
    request_id         TEXT COLLATE "C",
    resource_type      TEXT COLLATE "C" NOT NULL,
    resource_id        TEXT COLLATE "C" NOT NULL,
    operation          TEXT COLLATE "C" NOT NULL,
    changes            TEXT NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, occurred_at, id);
CREATE INDEX audit_log_actor ON audit_log (account_id, actor_principal_id, occurred_at, id);
CREATE INDEX audit_log_resource ON audit_log (account_id, resource_id, occurred_at, id);
CREATE INDEX audit_log_time ON audit_log (occurred_at);
"#,
        backfill: None,
    },
    Migration {
        version: 6,
        name: "email index",
        sql: r#"
CREATE TABLE principal_emails (
    value_key    TEXT COLLATE "C" NOT NULL,
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    PRIMARY KEY (value_key, principal_id)
);
CREATE INDEX principal_emails_principal ON principal_emails (principal_id);
"#,
        backfill: Some(crate::schema::backfill_emails),
    },
    Migration {
        version: 7,
        name: "principals of a scope in id order",
        sql: r#"
CREATE INDEX principals_scope ON principals (account_id, home_workspace, kind, id);
"#,
        backfill: None,
    },
    Migration {
        version: 8,
        name: "provisioning: tenants, directory, applications, jobs, secrets",
        sql: r#"
-- See the SQLite schema for notes. The provisioning service's tables (the source side). Ids are GUID text; every
-- table carries its tenant, and every lookup is by tenant and id. A tenant's `change_seq` numbers its change feed: writers bump it in their transaction,
-- so that feed positions follow commit order.
CREATE TABLE tenants (
    id             TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT COLLATE "C" NOT NULL,
    default_domain TEXT COLLATE "C" NOT NULL,
    account_id     TEXT COLLATE "C" UNIQUE REFERENCES accounts (id),
    created        BIGINT NOT NULL,
    change_seq     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE tenant_tokens (
    id        TEXT COLLATE "C" PRIMARY KEY,
    hash      BYTEA NOT NULL UNIQUE,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    comment   TEXT COLLATE "C" NOT NULL,
    created   BIGINT NOT NULL,
    expires   BIGINT
);
CREATE INDEX tenant_tokens_tenant ON tenant_tokens (tenant_id);

-- Users and groups. The *_key columns hold the lowercase of their property (computed in Rust), for the
-- case-insensitive lookups and filters Graph answers. `deleted` is when the object went to the deleted items; a
-- user principal name is unique among live users only (a deleted user's may be reused, as in Entra ID).
CREATE TABLE directory_objects (
    id               TEXT COLLATE "C" PRIMARY KEY,
    tenant_id        TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    kind             TEXT COLLATE "C" NOT NULL,
    unique_key       TEXT COLLATE "C",
    display_key      TEXT COLLATE "C",
    mail_key         TEXT COLLATE "C",
    nickname_key     TEXT COLLATE "C",
    employee_key     TEXT COLLATE "C",
    account_enabled  BOOLEAN,
    security_enabled BOOLEAN,
    mail_enabled     BOOLEAN,
    manager_id       TEXT COLLATE "C" REFERENCES directory_objects (id) ON DELETE SET NULL,
    doc              TEXT NOT NULL,
    deleted          BIGINT,
    version          BIGINT NOT NULL,
    created          BIGINT NOT NULL,
    last_modified    BIGINT NOT NULL
);
CREATE UNIQUE INDEX directory_objects_unique ON directory_objects (tenant_id, kind, unique_key) WHERE deleted IS NULL;
CREATE INDEX directory_objects_scope ON directory_objects (tenant_id, kind, id);
CREATE INDEX directory_objects_display ON directory_objects (tenant_id, kind, display_key);
CREATE INDEX directory_objects_mail ON directory_objects (tenant_id, kind, mail_key);
CREATE INDEX directory_objects_nickname ON directory_objects (tenant_id, kind, nickname_key);
CREATE INDEX directory_objects_employee ON directory_objects (tenant_id, kind, employee_key);
CREATE INDEX directory_objects_manager ON directory_objects (manager_id);
CREATE INDEX directory_objects_deleted ON directory_objects (tenant_id, deleted) WHERE deleted IS NOT NULL;

CREATE TABLE directory_members (
    group_id  TEXT COLLATE "C" NOT NULL REFERENCES directory_objects (id) ON DELETE CASCADE,
    member_id TEXT COLLATE "C" NOT NULL REFERENCES directory_objects (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX directory_members_member ON directory_members (member_id, group_id);

-- The change feed: no foreign keys, an entry outlives its object.
CREATE TABLE directory_changes (
    tenant_id   TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    object_id   TEXT COLLATE "C" NOT NULL,
    object_kind TEXT COLLATE "C" NOT NULL,
    change      TEXT COLLATE "C" NOT NULL,
    related_id  TEXT COLLATE "C",
    at          BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE applications (
    id            TEXT COLLATE "C" PRIMARY KEY,
    tenant_id     TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    app_id        TEXT COLLATE "C" NOT NULL UNIQUE,
    display_name  TEXT COLLATE "C" NOT NULL,
    template_id   TEXT COLLATE "C",
    doc           TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created       BIGINT NOT NULL
);
CREATE INDEX applications_tenant ON applications (tenant_id, id);

CREATE TABLE service_principals (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    tenant_id           TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    app_id              TEXT COLLATE "C" NOT NULL UNIQUE,
    application_id      TEXT COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    display_name        TEXT COLLATE "C" NOT NULL,
    template_id         TEXT COLLATE "C",
    assignment_required BOOLEAN NOT NULL,
    doc                 TEXT NOT NULL,
    version             BIGINT NOT NULL,
    created             BIGINT NOT NULL
);
CREATE INDEX service_principals_tenant ON service_principals (tenant_id, id);
CREATE INDEX service_principals_application ON service_principals (application_id);

CREATE TABLE app_role_assignments (
    id             TEXT COLLATE "C" PRIMARY KEY,
    tenant_id      TEXT COLLATE "C" NOT NULL,
    resource_id    TEXT COLLATE "C" NOT NULL REFERENCES service_principals (id) ON DELETE CASCADE,
    principal_id   TEXT COLLATE "C" NOT NULL REFERENCES directory_objects (id) ON DELETE CASCADE,
    principal_type TEXT COLLATE "C" NOT NULL,
    app_role_id    TEXT COLLATE "C" NOT NULL,
    created        BIGINT NOT NULL,
    UNIQUE (resource_id, principal_id, app_role_id)
);
CREATE INDEX app_role_assignments_resource ON app_role_assignments (resource_id, created, id);
CREATE INDEX app_role_assignments_principal ON app_role_assignments (principal_id);

CREATE TABLE sync_jobs (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    tenant_id            TEXT COLLATE "C" NOT NULL,
    service_principal_id TEXT COLLATE "C" NOT NULL REFERENCES service_principals (id) ON DELETE CASCADE,
    template_id          TEXT COLLATE "C" NOT NULL,
    schedule             TEXT NOT NULL,
    status               TEXT NOT NULL,
    schema               TEXT,
    settings             TEXT NOT NULL,
    version              BIGINT NOT NULL,
    created              BIGINT NOT NULL,
    last_modified        BIGINT NOT NULL,
    UNIQUE (service_principal_id, template_id)
);

CREATE TABLE sync_secrets (
    service_principal_id TEXT COLLATE "C" NOT NULL REFERENCES service_principals (id) ON DELETE CASCADE,
    key                  TEXT COLLATE "C" NOT NULL,
    sealed               BYTEA NOT NULL,
    PRIMARY KEY (service_principal_id, key)
);

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
    job_id               TEXT COLLATE "C" PRIMARY KEY REFERENCES sync_jobs (id) ON DELETE CASCADE,
    tenant_id            TEXT COLLATE "C" NOT NULL,
    service_principal_id TEXT COLLATE "C" NOT NULL,
    watermark            BIGINT,
    next_run             BIGINT,
    schema_version       TEXT,
    data                 TEXT NOT NULL,
    lease_owner          TEXT,
    lease_expires        BIGINT,
    progress             TEXT
);
CREATE INDEX sync_job_runs_due ON sync_job_runs (next_run);

CREATE TABLE sync_links (
    job_id       TEXT COLLATE "C" NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    source_id    TEXT COLLATE "C" NOT NULL,
    object_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    display_name TEXT NOT NULL,
    active       BOOLEAN NOT NULL,
    updated      BIGINT NOT NULL,
    PRIMARY KEY (job_id, source_id)
);
CREATE INDEX sync_links_target ON sync_links (job_id, target_id);

CREATE TABLE sync_escrows (
    job_id       TEXT COLLATE "C" NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    source_id    TEXT COLLATE "C" NOT NULL,
    object_type  TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    first_failed BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    error_code   TEXT NOT NULL,
    reason       TEXT NOT NULL,
    PRIMARY KEY (job_id, source_id)
);
CREATE INDEX sync_escrows_due ON sync_escrows (job_id, next_attempt);
"#,
        backfill: None,
    },
    Migration {
        version: 10,
        name: "provisioning_logs",
        sql: r#"
-- See the SQLite schema for notes.
CREATE TABLE provisioning_logs (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    tenant_id            TEXT COLLATE "C" NOT NULL,
    activity             BIGINT NOT NULL,
    job_id               TEXT COLLATE "C" NOT NULL,
    service_principal_id TEXT COLLATE "C" NOT NULL,
    cycle_id             TEXT COLLATE "C" NOT NULL,
    change_id            TEXT COLLATE "C" NOT NULL,
    action               TEXT COLLATE "C" NOT NULL,
    status               TEXT COLLATE "C" NOT NULL,
    source_id            TEXT COLLATE "C" NOT NULL,
    target_id            TEXT COLLATE "C" NOT NULL,
    source_name          TEXT NOT NULL,
    target_name          TEXT NOT NULL,
    record               TEXT NOT NULL
);
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
"#,
        backfill: None,
    },
    Migration {
        version: 11,
        name: "provisioning: on-premises agents, registration tokens, assignments, sessions",
        sql: r#"
CREATE TABLE agent_registration_tokens (
    id        TEXT COLLATE "C" PRIMARY KEY,
    hash      BYTEA NOT NULL UNIQUE,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    created   BIGINT NOT NULL,
    expires   BIGINT NOT NULL
);
CREATE INDEX agent_registration_tokens_expires ON agent_registration_tokens (expires);

CREATE TABLE agents (
    id              TEXT COLLATE "C" PRIMARY KEY,
    tenant_id       TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    host_name       TEXT NOT NULL,
    version         TEXT NOT NULL,
    credential_hash BYTEA UNIQUE,
    created         BIGINT NOT NULL,
    last_seen       BIGINT,
    round_trip_us   BIGINT
);
CREATE INDEX agents_tenant ON agents (tenant_id, created, id);

CREATE TABLE agent_assignments (
    agent_id             TEXT COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    service_principal_id TEXT COLLATE "C" NOT NULL REFERENCES service_principals (id) ON DELETE CASCADE,
    tenant_id            TEXT COLLATE "C" NOT NULL,
    created              BIGINT NOT NULL,
    PRIMARY KEY (agent_id, service_principal_id)
);
CREATE INDEX agent_assignments_application ON agent_assignments (service_principal_id, created, agent_id);

CREATE TABLE agent_sessions (
    agent_id       TEXT COLLATE "C" PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    tenant_id      TEXT COLLATE "C" NOT NULL,
    node_id        TEXT COLLATE "C" NOT NULL,
    session_id     TEXT COLLATE "C" NOT NULL,
    connected      BIGINT NOT NULL,
    last_heartbeat BIGINT NOT NULL,
    round_trip_us  BIGINT
);
"#,
        backfill: None,
    },
];
