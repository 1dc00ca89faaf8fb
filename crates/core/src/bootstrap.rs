//! First start: an empty store gets a default account, a default workspace with identity federation, an admin user
//! who is account admin and workspace admin, and a token for that admin.

use serde_json::json;
use time::OffsetDateTime;

use crate::access::ACCOUNT_ADMIN;
use crate::assignment::Permission;
use crate::audit::{self, Actor};
use crate::error::Result;
use crate::ids;
use crate::principal::{Home, Principal, PrincipalKind};
use crate::store::Store;
use crate::tenancy::{Account, Workspace};
use crate::token::{Secret, Token, TokenScope};

pub const DEFAULT_ACCOUNT: &str = "default_account";
pub const DEFAULT_WORKSPACE: &str = "default_workspace";
/// The user name of the administrator created at first start.
pub const ADMIN_USER_NAME: &str = "admin";

/// What the first start created. `secret` is the admin token in clear, to print once.
#[derive(Debug)]
pub struct Bootstrapped {
    pub account: Account,
    pub workspace: Workspace,
    pub admin_id: i64,
    pub secret: Secret,
}

/// The default account and workspace, if the store has been bootstrapped.
pub async fn defaults(store: &dyn Store) -> Result<Option<(Account, Workspace)>> {
    let (Some(a), Some(w)) = (store.setting(DEFAULT_ACCOUNT).await?, store.setting(DEFAULT_WORKSPACE).await?) else {
        return Ok(None);
    };
    let account = store.account(&a).await?;
    let workspace = match w.parse::<i64>() {
        Ok(w) => store.workspace(w).await?,
        Err(_) => None,
    };
    Ok(account.zip(workspace))
}

/// The setting a node writes to claim the bootstrap of an empty store, so that nodes starting together on one
/// database bootstrap it once.
pub const BOOTSTRAP_CLAIM: &str = "bootstrap_claim";

/// Bootstraps an empty store; `Ok(None)` if it was bootstrapped before, or if another node has claimed the bootstrap
/// (then [`defaults`] answers once that node is done). `token` is the admin token to install
/// (`IDPLANE_BOOTSTRAP_TOKEN`); without one, a random token is generated.
pub async fn bootstrap(store: &dyn Store, token: Option<Secret>, now: OffsetDateTime) -> Result<Option<Bootstrapped>> {
    if store.setting(DEFAULT_ACCOUNT).await?.is_some() {
        return Ok(None);
    }
    if !store.claim_setting(BOOTSTRAP_CLAIM, &ids::new_uuid()?).await? {
        return Ok(None);
    }
    // What the first start creates is recorded as idplane's own doing.
    let actor = Actor::system();
    let account = Account { id: ids::new_uuid()?, name: "default".into(), created: now };
    crate::tenancy::create_account(store, &account, &actor).await?;
    let workspace = Workspace {
        id: ids::new_numeric_id()?,
        account_id: account.id.clone(),
        name: "default".into(),
        identity_federation: true,
        created: now,
    };
    crate::workspaces::create(store, &workspace, now, &actor).await?;
    let admin = Principal {
        id: ids::new_numeric_id()?,
        kind: PrincipalKind::User,
        account_id: account.id.clone(),
        home: Home::Account,
        doc: json!({
            "userName": ADMIN_USER_NAME,
            "displayName": "Administrator",
            "active": true,
            "roles": [{"value": ACCOUNT_ADMIN}],
        }),
        version: 1,
        created: now,
        last_modified: now,
    };
    let entry = audit::principal_created(&actor, now, &admin, None);
    store.insert_principal(&crate::store::NewPrincipal::bare(admin.clone()), &[entry]).await?;
    let assigned = audit::assignment_changed(&actor, now, &admin, workspace.id, Some(Permission::Admin));
    store.set_assignment(workspace.id, admin.id, Some(Permission::Admin), &[assigned]).await?;
    let secret = match token {
        Some(s) => s,
        None => Secret::generate()?,
    };
    let record = Token::new(
        &secret,
        TokenScope::Account { account_id: account.id.clone() },
        Some(admin.id),
        "admin token created at first start",
        now,
        None,
    );
    crate::token::insert(store, &record, now, &actor).await?;
    // Written last: defaults() answers only for a complete bootstrap.
    store.set_setting(DEFAULT_WORKSPACE, &workspace.id.to_string()).await?;
    store.set_setting(DEFAULT_ACCOUNT, &account.id).await?;
    Ok(Some(Bootstrapped { account, workspace, admin_id: admin.id, secret }))
}
