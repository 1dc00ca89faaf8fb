//! The home page: where to start, on both sides.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::Console;
use crate::error::PageError;
use crate::page::{Chrome, ok};
use crate::session::Session;

#[derive(Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    chrome: Chrome,
    account_id: String,
    workspace_id: Option<i64>,
}

pub async fn home(
    State(_console): State<Console>,
    session: Session,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    ok(&Home {
        chrome: session.chrome("Home", "home").with_notice(q.notice),
        account_id: session.account_id().to_string(),
        workspace_id: session.workspace_id(),
    })
}
