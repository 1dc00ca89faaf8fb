//! The SCIM operations the provisioning engine needs, as Entra sends them: get by id, filter, create, replace,
//! patch, delete, list with paging, and the discovery reads. Each builds its request (URL from the tenant URL,
//! headers, JSON body), sends it through the [`Transport`], and reads the answer into what the caller needs.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use idplane_scim::CompValue;
use idplane_scim::schema::URN_PATCH_OP;
use serde_json::{Value, json};

use crate::error::{Error, ErrorResponse};
use crate::response::{ListPage, body_start, json as parse_json};
use crate::secret::SecretToken;
use crate::tenant::TenantUrl;
use crate::transport::{HttpRequest, HttpResponse, Method, RequestLine, Transport};

/// `User-Agent` of every request: idplane and its version (some WAFs reject requests without one).
pub const USER_AGENT: &str = concat!("idplane/", env!("CARGO_PKG_VERSION"));
/// `Content-Type` of every request body, as Entra sends it.
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json; charset=utf-8";
/// `Accept` of every request: SCIM's media type, and plain JSON, which many servers answer with.
pub const ACCEPT: &str = "application/scim+json, application/json";

/// A resource endpoint under the tenant URL: `Users`, `Groups`, or another a `/ResourceTypes` entry names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint(Cow<'static, str>);

impl Endpoint {
    pub const USERS: Endpoint = Endpoint(Cow::Borrowed("Users"));
    pub const GROUPS: Endpoint = Endpoint(Cow::Borrowed("Groups"));

    /// An endpoint by name, with or without its leading slash (`/ServicePrincipals`, as `/ResourceTypes` gives it):
    /// one path segment.
    pub fn new(name: &str) -> Result<Endpoint, Error> {
        let name = name.trim().trim_start_matches('/');
        if name.is_empty() || name.contains(['/', '?', '#']) || name.chars().any(char::is_whitespace) {
            return Err(Error::Request(format!(
                "the endpoint \"{name}\" is not one path segment (such as Users or /Groups)"
            )));
        }
        Ok(Endpoint(Cow::Owned(name.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The parameters of a listing or a filtered lookup (RFC 7644 §3.4.2), sent in this order: `excludedAttributes`,
/// `attributes`, `filter` (Entra's order), `startIndex`, `count`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    pub filter: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    pub start_index: Option<u64>,
    pub count: Option<u64>,
}

impl ListRequest {
    /// Entra's lookup: `<attribute> eq "<value>"`, the value quoted and escaped as a JSON string.
    pub fn filter_eq(attribute: &str, value: &str) -> ListRequest {
        ListRequest { filter: Some(eq_filter(attribute, value)), ..ListRequest::default() }
    }

    /// One page: `startIndex` (1-based) and `count`.
    pub fn page(start_index: u64, count: u64) -> ListRequest {
        ListRequest { start_index: Some(start_index), count: Some(count), ..ListRequest::default() }
    }

    /// Leaves `attributes` out of the answer (`members` for Entra's group reads).
    pub fn excluding(mut self, attributes: &str) -> ListRequest {
        self.excluded_attributes = Some(attributes.to_string());
        self
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        let text = [
            ("excludedAttributes", &self.excluded_attributes),
            ("attributes", &self.attributes),
            ("filter", &self.filter),
        ];
        for (name, value) in text {
            if let Some(v) = value {
                q.push((name, v.clone()));
            }
        }
        for (name, value) in [("startIndex", self.start_index), ("count", self.count)] {
            if let Some(v) = value {
                q.push((name, v.to_string()));
            }
        }
        q
    }
}

/// `<attribute> eq "<value>"`, the value printed as the SCIM filter grammar (a JSON string) wants it.
pub fn eq_filter(attribute: &str, value: &str) -> String {
    format!("{attribute} eq {}", CompValue::String(value.to_string()))
}

/// The `id` of a resource as a string (some servers send a number).
pub fn resource_id(resource: &Value) -> Option<String> {
    match resource.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A SCIM client for one target: its tenant URL, its token, and the transport that carries the requests.
#[derive(Clone)]
pub struct ScimClient {
    tenant: TenantUrl,
    token: SecretToken,
    transport: Arc<dyn Transport>,
}

impl fmt::Debug for ScimClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimClient").field("tenant", &self.tenant.as_str()).field("token", &self.token).finish()
    }
}

impl ScimClient {
    pub fn new(tenant: TenantUrl, token: SecretToken, transport: Arc<dyn Transport>) -> ScimClient {
        ScimClient { tenant, token, transport }
    }

    pub fn tenant(&self) -> &TenantUrl {
        &self.tenant
    }

    /// `GET <endpoint>/<id>`, with `excludedAttributes` when given: the resource. A missing resource is
    /// [`Error::Status`] with status 404.
    pub async fn get(&self, endpoint: &Endpoint, id: &str, excluded_attributes: Option<&str>) -> Result<Value, Error> {
        let query: Vec<(&str, String)> =
            excluded_attributes.map(|a| vec![("excludedAttributes", a.to_string())]).unwrap_or_default();
        let (line, response) = self.send(Method::Get, &[endpoint.as_str(), checked_id(id)?], &query, None).await?;
        resource(&line, &response, "a SCIM resource")
    }

    /// `GET <endpoint>?...`: a listing or a filtered lookup (no match is a page with no resources).
    pub async fn list(&self, endpoint: &Endpoint, request: &ListRequest) -> Result<ListPage, Error> {
        let (line, response) = self.send(Method::Get, &[endpoint.as_str()], &request.query(), None).await?;
        list_page(&line, &response)
    }

    /// `POST <endpoint>`: the created resource, which must carry its `id` (the anchor of later requests).
    pub async fn create(&self, endpoint: &Endpoint, resource_body: &Value) -> Result<Value, Error> {
        let (line, response) = self.send(Method::Post, &[endpoint.as_str()], &[], Some(resource_body)).await?;
        let created = resource(&line, &response, "the created resource")?;
        if resource_id(&created).is_none() {
            return Err(unexpected(&line, &response, "the created resource", "it has no id".into()));
        }
        Ok(created)
    }

    /// `PUT <endpoint>/<id>`: the resource as replaced.
    pub async fn replace(&self, endpoint: &Endpoint, id: &str, resource_body: &Value) -> Result<Value, Error> {
        let segments = [endpoint.as_str(), checked_id(id)?];
        let (line, response) = self.send(Method::Put, &segments, &[], Some(resource_body)).await?;
        resource(&line, &response, "the replaced resource")
    }

    /// `PATCH <endpoint>/<id>` with these operations in a PatchOp message: the resource when the target returns it
    /// (200 with a body), `None` when it does not (204, or 200 without a body).
    pub async fn patch(&self, endpoint: &Endpoint, id: &str, operations: &[Value]) -> Result<Option<Value>, Error> {
        let body = json!({"schemas": [URN_PATCH_OP], "Operations": operations});
        let segments = [endpoint.as_str(), checked_id(id)?];
        let (line, response) = self.send(Method::Patch, &segments, &[], Some(&body)).await?;
        match parse_json(&response.body) {
            Ok(None) => Ok(None),
            Ok(Some(v @ Value::Object(_))) => Ok(Some(v)),
            Ok(Some(_)) => Err(unexpected(&line, &response, "a SCIM resource", "it is not a JSON object".into())),
            Err(problem) => Err(unexpected(&line, &response, "a SCIM resource", problem)),
        }
    }

    /// `DELETE <endpoint>/<id>`.
    pub async fn delete(&self, endpoint: &Endpoint, id: &str) -> Result<(), Error> {
        self.send(Method::Delete, &[endpoint.as_str(), checked_id(id)?], &[], None).await.map(|_| ())
    }

    /// `GET /ServiceProviderConfig`.
    pub async fn service_provider_config(&self) -> Result<Value, Error> {
        let (line, response) = self.send(Method::Get, &["ServiceProviderConfig"], &[], None).await?;
        resource(&line, &response, "a ServiceProviderConfig")
    }

    /// `GET /Schemas`.
    pub async fn schemas(&self) -> Result<ListPage, Error> {
        let (line, response) = self.send(Method::Get, &["Schemas"], &[], None).await?;
        list_page(&line, &response)
    }

    /// `GET /ResourceTypes`.
    pub async fn resource_types(&self) -> Result<ListPage, Error> {
        let (line, response) = self.send(Method::Get, &["ResourceTypes"], &[], None).await?;
        list_page(&line, &response)
    }

    /// Builds the request for `segments` under the tenant URL, with SCIM's headers and the token.
    pub(crate) fn request(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> HttpRequest {
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut headers = vec![("accept".to_string(), ACCEPT.to_string()), ("user-agent".into(), USER_AGENT.into())];
        if body.is_some() {
            headers.push(("content-type".into(), SCIM_CONTENT_TYPE.into()));
        }
        HttpRequest {
            method,
            url: self.tenant.url(segments, &query),
            headers,
            bearer: Some(self.token.clone()),
            body: body.map(|b| b.to_string().into_bytes()),
        }
    }

    /// Sends a request; a 2xx answer comes back, anything else is an error (a 3xx [`Error::Redirect`], the rest
    /// [`Error::Status`]).
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(RequestLine, HttpResponse), Error> {
        let (line, response) = self.exchange(self.request(method, segments, query, body)).await?;
        success(line, response)
    }

    /// Sends a request as built and returns whatever status came back.
    pub(crate) async fn exchange(&self, request: HttpRequest) -> Result<(RequestLine, HttpResponse), Error> {
        let line = request.line();
        let started = Instant::now();
        let result = self.transport.send(request).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(r) => {
                tracing::debug!(method = %line.method, url = %line.url, status = r.status, elapsed_ms, "SCIM request")
            }
            Err(e) => {
                tracing::debug!(method = %line.method, url = %line.url, error = %e, elapsed_ms, "SCIM request failed")
            }
        }
        result.map(|response| (line, response))
    }
}

/// A 2xx passes; a 3xx is a redirect not followed; anything else is the target's error.
pub(crate) fn success(line: RequestLine, response: HttpResponse) -> Result<(RequestLine, HttpResponse), Error> {
    match response.status {
        200..=299 => Ok((line, response)),
        300..=399 => Err(Error::Redirect {
            request: line,
            status: response.status,
            location: response.header("location").map(str::to_string),
        }),
        _ => Err(Error::Status { request: line, response: Box::new(ErrorResponse::from_response(&response)) }),
    }
}

/// An id as one path segment: never empty, so that a request for one resource never addresses the collection.
fn checked_id(id: &str) -> Result<&str, Error> {
    if id.trim().is_empty() {
        return Err(Error::Request("the resource id is empty".into()));
    }
    Ok(id)
}

fn resource(line: &RequestLine, response: &HttpResponse, expected: &'static str) -> Result<Value, Error> {
    match parse_json(&response.body) {
        Ok(Some(v @ Value::Object(_))) => Ok(v),
        Ok(Some(_)) => Err(unexpected(line, response, expected, "it is not a JSON object".into())),
        Ok(None) => Err(unexpected(line, response, expected, "it is empty".into())),
        Err(problem) => Err(unexpected(line, response, expected, problem)),
    }
}

pub(crate) fn list_page(line: &RequestLine, response: &HttpResponse) -> Result<ListPage, Error> {
    let expected = "a SCIM ListResponse";
    match parse_json(&response.body) {
        Ok(Some(v)) => ListPage::from_json(&v).map_err(|problem| unexpected(line, response, expected, problem)),
        Ok(None) => Err(unexpected(line, response, expected, "it is empty".into())),
        Err(problem) => Err(unexpected(line, response, expected, problem)),
    }
}

pub(crate) fn unexpected(
    line: &RequestLine,
    response: &HttpResponse,
    expected: &'static str,
    problem: String,
) -> Error {
    let problem = match response.header("content-type") {
        Some(t) if !t.to_ascii_lowercase().contains("json") => format!("{problem} (Content-Type: {t})"),
        _ => problem,
    };
    Error::UnexpectedBody {
        request: line.clone(),
        status: response.status,
        expected,
        problem,
        body_start: body_start(&response.body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_one_segment() {
        assert_eq!(Endpoint::new("/ServicePrincipals").unwrap().as_str(), "ServicePrincipals");
        assert_eq!(Endpoint::new("Groups").unwrap(), Endpoint::GROUPS);
        for bad in ["", "/", "Users/1", "Users?x", "Us ers"] {
            assert!(matches!(Endpoint::new(bad), Err(Error::Request(_))), "{bad}");
        }
    }

    #[test]
    fn filters_quote_values() {
        assert_eq!(eq_filter("userName", "jdoe@contoso.com"), r#"userName eq "jdoe@contoso.com""#);
        assert_eq!(eq_filter("displayName", r#"Sales "EU" \ ops"#), r#"displayName eq "Sales \"EU\" \\ ops""#);
        let q = ListRequest::filter_eq("displayName", "Sales").excluding("members").query();
        assert_eq!(
            q,
            vec![("excludedAttributes", "members".to_string()), ("filter", "displayName eq \"Sales\"".to_string())]
        );
        assert_eq!(ListRequest::page(11, 5).query(), vec![("startIndex", "11".into()), ("count", "5".into())]);
    }

    #[test]
    fn ids() {
        assert_eq!(resource_id(&json!({"id": "abc"})).as_deref(), Some("abc"));
        assert_eq!(resource_id(&json!({"id": 1234567890123456_u64})).as_deref(), Some("1234567890123456"));
        assert_eq!(resource_id(&json!({"id": ""})), None);
        assert_eq!(resource_id(&json!({"userName": "x"})), None);
        assert!(matches!(checked_id(" "), Err(Error::Request(_))));
    }
}
