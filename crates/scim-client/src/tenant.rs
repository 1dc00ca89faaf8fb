//! The tenant URL (Entra's "Tenant URL"): the SCIM base an admin enters, validated, and the request URLs built from
//! it as Entra builds them.
//!
//! `https://host/api/2.1/accounts/<id>/scim/v2`, `https://host/api/2.0/preview/scim`,
//! `https://host/scim/?aadOptscim062020`: the path is the base to which `/Users`, `/Users/<id>`, `/Groups`,
//! `/Schemas`, ... are appended (a trailing slash is not doubled); the query string holds flags, which ride along
//! on every request, first, as Entra keeps them, followed by the request's own parameters (`filter`,
//! `excludedAttributes`, ...), form-encoded as Entra encodes them (`filter=userName+eq+%22x%22`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use url::{Host, Url};

use crate::error::Error;

/// The flag that switches Entra's PATCH requests to the RFC 7644 dialect.
pub const AAD_OPT_SCIM_062020: &str = "aadOptscim062020";

/// A validated tenant URL: `http` or `https`, a host, no credentials, no fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantUrl {
    /// As parsed (host lower-cased, default port dropped), for display.
    url: Url,
    /// The path without trailing slashes, to which resource segments are appended.
    base_path: String,
}

pub use idplane_scim::PatchDialect;

impl TenantUrl {
    /// Parses a tenant URL as an admin typed it (surrounding whitespace ignored). The error says what to change and
    /// never repeats the input, which could hold a password.
    pub fn parse(input: &str) -> Result<TenantUrl, Error> {
        let input = input.trim();
        if input.is_empty() {
            return Err(invalid("it is empty: enter the target's SCIM base URL, such as https://host/scim/v2"));
        }
        let url = Url::parse(input).map_err(|e| {
            invalid(format!("it is not an absolute URL ({e}): enter it as https://host/path, the target's SCIM base"))
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(invalid(format!(
                "its scheme is \"{}\": use https:// (or http:// for a target on this machine)",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "it contains credentials (user:password@ before the host): remove them; the secret token is entered \
                 separately and sent as a bearer token",
            ));
        }
        // The URL standard reads `https:///scim` (and `https:scim`) as the host `scim`: require the `//host` an
        // admin means.
        let authority = input.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
        if authority.is_empty()
            || authority.starts_with(['/', '\\', '?', '#'])
            || url.host_str().is_none_or(str::is_empty)
        {
            return Err(invalid("it has no host: enter it as https://host/path"));
        }
        if url.fragment().is_some() {
            return Err(invalid("it has a fragment (#...): remove it"));
        }
        let base_path = url.path().trim_end_matches('/').to_string();
        Ok(TenantUrl { url, base_path })
    }

    /// The URL as parsed.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// Whether the host is this machine (127.0.0.0/8, ::1, `localhost`), where plain `http://` is allowed.
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.url)
    }

    /// The flags (the query string as entered), if any.
    pub fn flags(&self) -> Option<&str> {
        self.url.query().filter(|q| !q.is_empty())
    }

    /// Whether the query string has the parameter `name` (case-insensitive), with or without a value.
    pub fn has_flag(&self, name: &str) -> bool {
        self.url.query_pairs().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// The PATCH dialect: [`PatchDialect::Rfc7644`] when the URL carries `aadOptscim062020`.
    pub fn patch_dialect(&self) -> PatchDialect {
        if self.has_flag(AAD_OPT_SCIM_062020) { PatchDialect::Rfc7644 } else { PatchDialect::EntraDefault }
    }

    /// The URL of `segments` (each percent-encoded as one path segment) under the base, with the flags and then
    /// `query` (form-encoded, in order).
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.url.clone();
        url.set_path(&self.base_path);
        if let Ok(mut path) = url.path_segments_mut() {
            // `set_path("")` leaves "/", one empty segment: drop it rather than write "//Users".
            path.pop_if_empty().extend(segments);
        }
        let own = form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
        let joined = match (self.flags(), own.is_empty()) {
            (Some(flags), false) => Some(format!("{flags}&{own}")),
            (Some(flags), true) => Some(flags.to_string()),
            (None, false) => Some(own),
            (None, true) => None,
        };
        url.set_query(joined.as_deref());
        url
    }
}

impl fmt::Display for TenantUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl FromStr for TenantUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantUrl::parse(s)
    }
}

fn invalid(problem: impl Into<String>) -> Error {
    Error::TenantUrl(format!("the tenant URL {}", problem.into()))
}

/// Whether `url`'s host is this machine: an address in 127.0.0.0/8 (also IPv4-mapped), `::1`, or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => {
            let name = name.strip_suffix('.').unwrap_or(name);
            name.eq_ignore_ascii_case("localhost")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).to_canonical().is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(s: &str) -> TenantUrl {
        TenantUrl::parse(s).unwrap()
    }

    fn problem(s: &str) -> String {
        TenantUrl::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn databricks_and_entra_urls_build_as_entra_builds_them() {
        let t = tenant("https://adb.example.net/api/2.1/accounts/a1b2-c3/scim/v2");
        assert_eq!(t.url(&["Users"], &[]).as_str(), "https://adb.example.net/api/2.1/accounts/a1b2-c3/scim/v2/Users");
        assert_eq!(t.patch_dialect(), PatchDialect::EntraDefault);
        let t = tenant(" https://adb.example.net/api/2.0/preview/scim\n");
        assert_eq!(
            t.url(&["Groups", "123"], &[("excludedAttributes", "members")]).as_str(),
            "https://adb.example.net/api/2.0/preview/scim/Groups/123?excludedAttributes=members"
        );
        let t = tenant("https://HOST.example:443/scim/?aadOptscim062020");
        assert_eq!(t.patch_dialect(), PatchDialect::Rfc7644);
        assert_eq!(t.flags(), Some("aadOptscim062020"));
        assert_eq!(t.host(), "host.example");
        assert_eq!(
            t.url(&["Users"], &[("filter", "userName eq \"7d420df3-9995\"")]).as_str(),
            "https://host.example/scim/Users?aadOptscim062020&filter=userName+eq+%227d420df3-9995%22"
        );
        assert_eq!(t.url(&["Schemas"], &[]).as_str(), "https://host.example/scim/Schemas?aadOptscim062020");
    }

    #[test]
    fn segments_and_parameters_are_encoded() {
        let t = tenant("http://127.0.0.1:8080");
        assert_eq!(t.url(&["Users"], &[]).as_str(), "http://127.0.0.1:8080/Users");
        assert_eq!(t.url(&["Users", "a/b?c#d %e"], &[]).as_str(), "http://127.0.0.1:8080/Users/a%2Fb%3Fc%23d%20%25e");
        assert_eq!(
            t.url(&["Users"], &[("filter", "emails[type eq \"work\"].value eq \"a+b&c=d@x\"")]).as_str(),
            "http://127.0.0.1:8080/Users?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22a%2Bb%26c%3Dd%40x%22"
        );
        let t = tenant("https://h.example/scim//?flagA&flagB=1");
        assert_eq!(t.url(&["Users"], &[("count", "5")]).as_str(), "https://h.example/scim/Users?flagA&flagB=1&count=5");
        assert!(t.has_flag("FLAGB"));
        assert!(!t.has_flag("aadOptscim062020"));
    }

    #[test]
    fn bad_urls_say_what_to_change() {
        for (input, expected) in [
            ("", "empty"),
            ("host.example/scim", "not an absolute URL"),
            ("ftp://host.example/scim", "scheme is \"ftp\""),
            ("https://admin:hunter2@host.example/scim", "contains credentials"),
            ("https://admin@host.example/scim", "contains credentials"),
            ("https://host.example/scim#users", "fragment"),
            ("http:///scim", "no host"),
            ("https:scim/v2", "no host"),
        ] {
            let p = problem(input);
            assert!(p.starts_with("invalid tenant URL: the tenant URL "), "{input}: {p}");
            assert!(p.contains(expected), "{input}: {p}");
            assert!(!p.contains("hunter2"), "{p}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for loopback in [
            "http://127.0.0.1/",
            "http://127.1.2.3:9/",
            "http://[::1]/",
            "http://LOCALHOST/",
            "http://localhost./",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(tenant(loopback).is_loopback(), "{loopback}");
        }
        for remote in
            ["http://10.0.0.1/", "http://localhost.example/", "http://[::2]/", "http://example.com/", "http://0.0.0.0/"]
        {
            assert!(!tenant(remote).is_loopback(), "{remote}");
        }
    }
}
