//! Which URLs the agent relays to: under the tenant URLs the service names (`Welcome`, `Config`), or under its
//! operator's allow-list when one is configured (then the service cannot widen it). Everything else is refused
//! before a connection is made, so that a compromised service cannot use the agent to scan the private network.
//!
//! "Under" is by parsed URL, never by string prefix: same scheme, host and port, and the target's path segments
//! first (`https://h/scim` allows `https://h/scim/Users` but not `https://h/scimx` nor `https://h.evil.example`).

use url::Url;

/// One tenant URL (or allow-list prefix), parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: Url,
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, String> {
        let url = Url::parse(text.trim()).map_err(|e| format!("\"{text}\" is not an absolute URL ({e})"))?;
        if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
            return Err(format!("\"{text}\" is not an http(s) URL with a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("\"{text}\" must not hold credentials"));
        }
        Ok(Target { url })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// Whether `url` is this target or under it.
    pub fn allows(&self, url: &Url) -> bool {
        if url.scheme() != self.url.scheme()
            || url.host() != self.url.host()
            || url.port_or_known_default() != self.url.port_or_known_default()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return false;
        }
        let segments = |u: &Url| -> Vec<String> {
            u.path_segments().map(|s| s.filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default()
        };
        let (base, path) = (segments(&self.url), segments(url));
        path.len() >= base.len() && base.iter().zip(&path).all(|(a, b)| a == b)
    }
}

/// The targets in force for a session.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// The operator's allow-list: when not empty, the only targets.
    allow_list: Vec<Target>,
    /// The service's latest targets; unparsable ones are dropped (and logged) when received.
    service: Vec<Target>,
}

impl Targets {
    pub fn new(allow_list: Vec<Target>) -> Targets {
        Targets { allow_list, service: Vec::new() }
    }

    /// Replaces the service's targets, returning the ones it could not read.
    pub fn set_service(&mut self, targets: &[String]) -> Vec<String> {
        let mut bad = Vec::new();
        self.service = targets
            .iter()
            .filter_map(|t| match Target::parse(t) {
                Ok(target) => Some(target),
                Err(e) => {
                    bad.push(e);
                    None
                }
            })
            .collect();
        bad
    }

    fn effective(&self) -> &[Target] {
        if self.allow_list.is_empty() { &self.service } else { &self.allow_list }
    }

    pub fn allows(&self, url: &Url) -> bool {
        self.effective().iter().any(|t| t.allows(url))
    }

    /// The targets in force, for messages.
    pub fn describe(&self) -> String {
        let list: Vec<&str> = self.effective().iter().map(Target::as_str).collect();
        let whose = if self.allow_list.is_empty() { "the service's targets" } else { "the operator's allow_list" };
        if list.is_empty() { format!("{whose}: none") } else { format!("{whose}: {}", list.join(", ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(target: &str, url: &str) -> bool {
        Target::parse(target).unwrap().allows(&Url::parse(url).unwrap())
    }

    #[test]
    fn under_means_same_origin_and_whole_segments() {
        assert!(allows("https://localhost:8585/scim", "https://localhost:8585/scim/Users?filter=x"));
        assert!(allows("https://localhost:8585/scim/", "https://localhost:8585/scim"));
        assert!(allows("https://LOCALHOST:8585/scim", "https://localhost:8585/scim/Groups/1"));
        assert!(allows("https://h/scim", "https://h:443/scim/Users"));
        assert!(!allows("https://localhost:8585/scim", "https://localhost:8585/scimx/Users"));
        assert!(!allows("https://localhost:8585/scim", "https://localhost:8586/scim/Users"));
        assert!(!allows("https://localhost:8585/scim", "http://localhost:8585/scim/Users"));
        assert!(!allows("https://h/scim", "https://h.evil.example/scim"));
        assert!(!allows("https://h/scim", "https://x@h/scim"));
        assert!(!allows("https://h/scim", "https://h/scim/../admin"), "dot segments are resolved before comparing");
        assert!(!allows("https://h/scim", "https://h/"));
    }

    #[test]
    fn an_allow_list_wins_over_the_service() {
        let url = Url::parse("https://db.corp/scim/Users").unwrap();
        let mut open = Targets::new(vec![]);
        assert!(!open.allows(&url), "nothing before the service names targets");
        assert_eq!(open.set_service(&["https://db.corp/scim".into(), "nonsense".into()]).len(), 1);
        assert!(open.allows(&url));
        let mut fenced = Targets::new(vec![Target::parse("https://other.corp/scim").unwrap()]);
        fenced.set_service(&["https://db.corp/scim".into()]);
        assert!(!fenced.allows(&url), "the service cannot widen the allow-list");
        assert!(fenced.describe().contains("allow_list: https://other.corp/scim"));
    }
}
