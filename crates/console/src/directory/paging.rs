//! Paging a listing through the API's own skip tokens: "Next" follows `@odata.nextLink`'s `$skiptoken`; "Previous"
//! goes back through the trail of the tokens that led here, carried in the page's URL (the API pages forward only).

use serde::Deserialize;

use crate::session::urlencode;

/// How many pages back "Previous" can go (the trail in the URL stays short); "First page" always can.
const MAX_TRAIL: usize = 40;

/// The paging part of a listing page's query: the skip token of the page shown and those of the pages before it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Paging {
    #[serde(default)]
    pub after: String,
    /// The skip tokens of the previous pages (oldest first; the first page has none), separated by `.` (which
    /// base64url never holds).
    #[serde(default)]
    pub trail: String,
}

/// The links of a page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    pub first: Option<String>,
    pub previous: Option<String>,
    pub next: Option<String>,
}

pub use crate::api::skip_token as skip_token_of;

impl Paging {
    fn tokens(&self) -> Vec<&str> {
        self.trail.split('.').filter(|t| !t.is_empty()).collect()
    }

    /// The links from this page of `base` (a path with its other query pairs, e.g. the search, already in it: it
    /// ends with `?` or `&`), given the next page's skip token.
    pub fn links(&self, base: &str, next: Option<&str>) -> Links {
        let url = |after: &str, trail: &[&str]| {
            let mut u = format!("{base}after={}", urlencode(after));
            if !trail.is_empty() {
                u.push_str("&trail=");
                u.push_str(&urlencode(&trail.join(".")));
            }
            u
        };
        let first_url = base.trim_end_matches(['?', '&']).to_string();
        let tokens = self.tokens();
        let on_first = self.after.is_empty();
        let previous = (!on_first).then(|| match tokens.split_last() {
            Some((last, rest)) => url(last, rest),
            None => first_url.clone(),
        });
        let next = next.map(|n| {
            let mut trail = tokens.clone();
            if !on_first {
                trail.push(&self.after);
            }
            let skip = trail.len().saturating_sub(MAX_TRAIL);
            url(n, &trail[skip..])
        });
        Links { first: (!on_first).then_some(first_url), previous, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skip_token_is_read_from_the_next_link() {
        let link = "http://h/v1.0/users?%24top=50&%24filter=x+eq+%27a%27&%24skiptoken=YWZ0ZXI6MQ";
        assert_eq!(skip_token_of(link).as_deref(), Some("YWZ0ZXI6MQ"));
        assert_eq!(skip_token_of("http://h/v1.0/users?$top=5"), None);
    }

    #[test]
    fn next_and_previous_walk_the_trail() {
        let base = "/console/users?q=a&";
        let first = Paging::default();
        let links = first.links(base, Some("T1"));
        assert_eq!(links, Links { first: None, previous: None, next: Some("/console/users?q=a&after=T1".into()) });

        let second = Paging { after: "T1".into(), trail: String::new() };
        let links = second.links(base, Some("T2"));
        assert_eq!(links.previous.as_deref(), Some("/console/users?q=a"));
        assert_eq!(links.first.as_deref(), Some("/console/users?q=a"));
        assert_eq!(links.next.as_deref(), Some("/console/users?q=a&after=T2&trail=T1"));

        let third = Paging { after: "T2".into(), trail: "T1".into() };
        let links = third.links(base, None);
        assert_eq!(links.previous.as_deref(), Some("/console/users?q=a&after=T1"));
        assert_eq!(links.next, None);
    }

    #[test]
    fn the_trail_stays_short() {
        let trail: Vec<String> = (0..MAX_TRAIL + 5).map(|i| format!("T{i}")).collect();
        let deep = Paging { after: "X".into(), trail: trail.join(".") };
        let next = deep.links("/console/users?", Some("N")).next.unwrap_or_default();
        let carried = next.split("trail=").nth(1).unwrap_or_default().split('.').count();
        assert_eq!(carried, MAX_TRAIL);
    }
}
