//! A page that could not be shown: a status, a title and a message that says what to do, rendered as a page of its
//! own. Internal details are logged, never shown.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::api::ApiFailure;
use crate::page::render;

#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

impl PageError {
    pub fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> PageError {
        PageError { status, title: title.into(), message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, "That did not work", message)
    }

    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, "Not found", message)
    }

    pub fn csrf() -> PageError {
        PageError::new(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form's security token is missing or stale. Go back, reload the page and submit the form again.",
        )
    }

    /// An error of the server's own: logged, and shown without its details.
    pub fn internal(detail: impl Into<String>) -> PageError {
        tracing::error!(detail = %detail.into(), "console page failed");
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not show this page; its log says why. Try again.",
        )
    }
}

impl From<ApiFailure> for PageError {
    fn from(f: ApiFailure) -> PageError {
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let title = match f.status {
            403 => "Not allowed",
            404 => "Not found",
            429 => "Too many requests",
            s if s >= 500 => "Something went wrong",
            _ => "That did not work",
        };
        PageError::new(status, title, f.message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        // A session whose token the API no longer takes: sign in again.
        if self.status == StatusCode::UNAUTHORIZED {
            return Redirect::to("/console/signin?reason=revoked").into_response();
        }
        let page = ErrorPage { status: self.status.as_u16(), title: &self.title, message: &self.message };
        match render(self.status, &page) {
            Ok(response) => response,
            Err(_) => (self.status, self.message).into_response(),
        }
    }
}

/// A console path with no page; to signed-in users only (others are asked to sign in first, and then come back).
pub async fn not_found(_session: crate::session::Session) -> PageError {
    PageError::not_found("There is no console page here. Start again from the home page.")
}
