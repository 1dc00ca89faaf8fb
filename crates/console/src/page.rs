//! What every page shares: the frame (title, navigation, who is signed in, the CSRF token of its forms, a notice)
//! and rendering a template into a response.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idplane_core::token::TokenScope;

use crate::error::PageError;
use crate::session::Session;

/// The frame of a page, a field of every page's template (`chrome`): `base.html` reads it.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    /// Which navigation entry is current (its `id` in `base.html`).
    pub section: &'static str,
    /// The CSRF token every form of the page carries (`{{ chrome.csrf }}` in a hidden `_csrf` field).
    pub csrf: String,
    /// Who is signed in: the token's comment and id.
    pub who: String,
    /// What the token reaches: "account …" or "workspace … of account …".
    pub scope: String,
    /// A message to show at the top (after a change: "Saved.").
    pub notice: Option<String>,
}

impl Chrome {
    pub fn new(title: impl Into<String>, section: &'static str, session: &Session) -> Chrome {
        let token = &session.token;
        let who = if token.comment.is_empty() {
            format!("token {}", token.id)
        } else {
            format!("{} (token {})", token.comment, token.id)
        };
        let scope = match &token.scope {
            TokenScope::Account { account_id } => format!("account {account_id}"),
            TokenScope::Workspace { account_id, workspace_id } => {
                format!("workspace {workspace_id} of account {account_id}")
            }
        };
        Chrome { title: title.into(), section, csrf: session.csrf.clone(), who, scope, notice: None }
    }

    /// With a notice at the top of the page.
    pub fn with_notice(mut self, notice: Option<String>) -> Chrome {
        self.notice = notice.filter(|n| !n.is_empty());
        self
    }
}

/// Renders `template` as an HTML response with `status`.
pub fn render(status: StatusCode, template: &impl Template) -> Result<Response, PageError> {
    let html = template.render().map_err(|e| PageError::internal(format!("a page could not be rendered: {e}")))?;
    let mut response = (status, html).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    Ok(response)
}

/// Renders `template` as a 200 HTML response.
pub fn ok(template: &impl Template) -> Result<Response, PageError> {
    render(StatusCode::OK, template)
}

/// After a successful post: back to `to` with `notice` at the top of the page (303 See Other).
pub fn see_other(to: &str, notice: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    axum::response::Redirect::to(&format!("{to}{sep}notice={}", crate::session::urlencode(notice))).into_response()
}

/// One page of a long list: which page, how many a page, and the links to the neighbours.
#[derive(Debug, Clone)]
pub struct Pager {
    /// The 1-based index of the first item shown.
    pub first: usize,
    /// The 1-based index of the last item shown (0 when none).
    pub last: usize,
    /// The total, when the API says it.
    pub total: Option<usize>,
    /// The link to the previous page, and to the next.
    pub previous: Option<String>,
    pub next: Option<String>,
}
