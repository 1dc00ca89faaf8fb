//! A short-lived, per-node cache of what authenticating a request reads from the store: the token behind a bearer
//! secret's hash, the caller's role in a scope, and workspaces. Without it every request costs three to nine store
//! reads before its own work begins.
//!
//! The bound on staleness is the time to live (`auth_cache_seconds`, 1 s by default): a token revoked, a principal
//! deactivated or an assignment changed through another node or the CLI takes effect here within it. A successful
//! write through this node empties the cache, so its own changes take effect at once. Only successes are cached:
//! an unknown token or a refusal is looked up again every time. Token expiry is checked on every request.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::clock::{Clock, SystemClock};
use idplane_core::access::Role;
use idplane_core::tenancy::{Scope, Workspace};
use idplane_core::token::{Token, TokenHash};

/// Entries a map holds at most; a full map is emptied rather than letting many distinct tokens grow it unbounded.
const CAPACITY: usize = 10_000;

#[derive(Debug)]
pub struct AuthCache {
    ttl: Duration,
    clock: Arc<dyn Clock>,
    tokens: TtlMap<TokenHash, Token>,
    roles: TtlMap<(String, Scope), Role>,
    workspaces: TtlMap<i64, Workspace>,
    default_workspace: TtlMap<(), Workspace>,
}

impl AuthCache {
    /// A cache whose entries live `ttl`; a zero `ttl` caches nothing.
    pub fn new(ttl: Duration) -> Self {
        Self::with_clock(ttl, Arc::new(SystemClock))
    }

    /// A cache whose entries age by `clock`.
    pub fn with_clock(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        AuthCache {
            ttl,
            clock,
            tokens: TtlMap::default(),
            roles: TtlMap::default(),
            workspaces: TtlMap::default(),
            default_workspace: TtlMap::default(),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn token(&self, hash: &TokenHash) -> Option<Token> {
        self.tokens.get(hash, self.ttl, self.clock.instant())
    }

    pub fn put_token(&self, hash: TokenHash, token: &Token) {
        self.put(&self.tokens, hash, token)
    }

    pub fn role(&self, token_id: &str, scope: &Scope) -> Option<Role> {
        self.roles.get(&(token_id.to_string(), scope.clone()), self.ttl, self.clock.instant())
    }

    pub fn put_role(&self, token_id: &str, scope: &Scope, role: Role) {
        self.put(&self.roles, (token_id.to_string(), scope.clone()), &role)
    }

    pub fn workspace(&self, id: i64) -> Option<Workspace> {
        self.workspaces.get(&id, self.ttl, self.clock.instant())
    }

    pub fn put_workspace(&self, workspace: &Workspace) {
        self.put(&self.workspaces, workspace.id, workspace)
    }

    pub fn default_workspace(&self) -> Option<Workspace> {
        self.default_workspace.get(&(), self.ttl, self.clock.instant())
    }

    pub fn put_default_workspace(&self, workspace: &Workspace) {
        self.put(&self.default_workspace, (), workspace)
    }

    /// Forgets everything: after a write, whatever it changed is read afresh.
    pub fn clear(&self) {
        self.tokens.clear();
        self.roles.clear();
        self.workspaces.clear();
        self.default_workspace.clear();
    }

    fn put<K: Hash + Eq, V: Clone>(&self, map: &TtlMap<K, V>, key: K, value: &V) {
        if !self.ttl.is_zero() {
            map.put(key, value.clone(), self.clock.instant());
        }
    }
}

/// Empties the cache after every successful request that may have written, so that this node's own changes to
/// tokens, principals, memberships, assignments and workspaces take effect on its next request.
pub async fn forget_after_writes(State(cache): State<Arc<AuthCache>>, request: Request, next: Next) -> Response {
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        cache.clear();
    }
    response
}

#[derive(Debug)]
struct TtlMap<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K, V> Default for TtlMap<K, V> {
    fn default() -> Self {
        TtlMap { entries: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq, V: Clone> TtlMap<K, V> {
    fn get(&self, key: &K, ttl: Duration, now: Instant) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (value, stored) = entries.get(key)?;
        (now.saturating_duration_since(*stored) < ttl).then(|| value.clone())
    }

    fn put(&self, key: K, value: V, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (value, now));
    }

    fn clear(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_their_time_to_live() {
        let map = TtlMap::default();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(1);
        map.put("k", 1, t0);
        assert_eq!(map.get(&"k", ttl, t0), Some(1));
        assert_eq!(map.get(&"k", ttl, t0 + Duration::from_millis(999)), Some(1));
        assert_eq!(map.get(&"k", ttl, t0 + ttl), None);
        map.put("k", 2, t0 + ttl);
        assert_eq!(map.get(&"k", ttl, t0 + ttl), Some(2));
        map.clear();
        assert_eq!(map.get(&"k", ttl, t0 + ttl), None);
    }

    #[test]
    fn a_full_map_starts_over_instead_of_growing() {
        let map = TtlMap::default();
        let now = Instant::now();
        for k in 0..CAPACITY {
            map.put(k, k, now);
        }
        map.put(0, 0, now);
        assert_eq!(map.get(&1, Duration::from_secs(1), now), Some(1), "replacing a key keeps the others");
        map.put(CAPACITY, CAPACITY, now);
        assert_eq!(map.get(&1, Duration::from_secs(1), now), None);
        assert_eq!(map.get(&CAPACITY, Duration::from_secs(1), now), Some(CAPACITY));
    }

    #[test]
    fn a_zero_time_to_live_caches_nothing() {
        let cache = AuthCache::new(Duration::ZERO);
        let ws = Workspace {
            id: 1,
            account_id: "a".into(),
            name: "w".into(),
            identity_federation: true,
            created: time::OffsetDateTime::UNIX_EPOCH,
        };
        cache.put_workspace(&ws);
        assert_eq!(cache.workspace(1), None);
        let cache = AuthCache::new(Duration::from_secs(60));
        cache.put_workspace(&ws);
        assert_eq!(cache.workspace(1), Some(ws));
    }
}
