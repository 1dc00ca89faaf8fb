//! The direct transport against sockets that misbehave: nothing listening, a silent peer, a redirect, garbage, a
//! body too large, plain HTTP to a host that is not this machine, a name that does not resolve. And the request
//! exactly as it leaves: URL, headers, body.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::Result;
use idplane_scim_client::{
    ConnectFailure, ConnectionTestCode, DirectConfig, Endpoint, Error, TimeoutPhase, USER_AGENT,
};
use idplane_testkit::{App, TOKEN};
use serde_json::json;

use crate::support::{
    EMPTY_LIST, GUID, answering, answering_then_closing, client, client_with, closed_port, http_json, serve, silent,
};

/// What a test allows a failure that should be quick to take: generous, so that a loaded machine cannot fail it.
const CEILING: Duration = Duration::from_secs(10);

#[tokio::test]
async fn requests_leave_as_entra_sends_them() -> Result<()> {
    let (addr, seen) = answering(http_json("200 OK", EMPTY_LIST)).await?;
    let scim = client(&format!("http://{addr}/scim/?aadOptscim062020"), "tok-123")?;
    scim.test_connection("userName", GUID).await?;
    let request = seen.await??;
    let head = request.to_ascii_lowercase();
    assert!(
        request.starts_with(&format!("GET /scim/Users?aadOptscim062020&filter=userName+eq+%22{GUID}%22 HTTP/1.1\r\n")),
        "{request}"
    );
    assert!(head.contains("\r\nauthorization: bearer tok-123\r\n"), "{request}");
    assert!(head.contains(&format!("\r\nuser-agent: {}\r\n", USER_AGENT.to_ascii_lowercase())), "{request}");
    assert!(USER_AGENT.starts_with("idplane/") && USER_AGENT.len() > "idplane/".len());
    assert!(head.contains("\r\naccept: application/scim+json, application/json\r\n"), "{request}");
    assert!(!head.contains("content-type"), "a GET has no body: {request}");

    let created = json!({"id": "42", "userName": "x"}).to_string();
    let (addr, seen) = answering(http_json("201 Created", &created)).await?;
    let scim = client(&format!("http://{addr}/scim"), "tok-123")?;
    scim.create(&Endpoint::USERS, &json!({"userName": "x"})).await?;
    let request = seen.await??;
    assert!(request.starts_with("POST /scim/Users HTTP/1.1\r\n"), "{request}");
    assert!(request.to_ascii_lowercase().contains("\r\ncontent-type: application/scim+json; charset=utf-8\r\n"));
    assert!(request.ends_with(r#"{"userName":"x"}"#), "{request}");
    Ok(())
}

#[tokio::test]
async fn nothing_listening_is_a_refused_connection_fast() -> Result<()> {
    let port = closed_port().await?;
    let started = Instant::now();
    let failure =
        client(&format!("http://127.0.0.1:{port}/scim"), TOKEN)?.test_connection("userName", GUID).await.unwrap_err();
    assert!(started.elapsed() < CEILING, "{:?}", started.elapsed());
    assert_eq!(failure.code, ConnectionTestCode::CredentialValidationUnavailable);
    match &failure.error {
        Error::Connect { address, failure, .. } => {
            assert_eq!(address, &format!("127.0.0.1:{port}"));
            assert_eq!(failure, &ConnectFailure::Refused);
        }
        other => panic!("expected a refused connection, got {other:?}"),
    }
    let message = failure.to_string();
    assert!(message.contains("connection refused"), "{message}");
    assert!(
        message.ends_with(&format!("request: GET http://127.0.0.1:{port}/scim/Users?filter=userName+eq+%22{GUID}%22"))
    );
    Ok(())
}

#[tokio::test]
async fn a_silent_target_times_out_within_the_bound() -> Result<()> {
    let addr = silent().await?;
    let config = DirectConfig { timeout: Duration::from_millis(500), ..DirectConfig::default() };
    let started = Instant::now();
    let failure = client_with(&format!("http://{addr}/scim"), TOKEN, &config)?
        .test_connection("userName", GUID)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(500) && elapsed < CEILING, "{elapsed:?}");
    match &failure.error {
        Error::Timeout { after, phase, .. } => {
            assert_eq!(*after, Duration::from_millis(500));
            assert_eq!(*phase, TimeoutPhase::Response);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(failure.to_string().contains("no complete answer within 0.5 s (before the response headers arrived)"));
    Ok(())
}

#[tokio::test]
async fn a_silent_tls_handshake_is_a_connect_timeout() -> Result<()> {
    let addr = silent().await?;
    let config = DirectConfig {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_millis(300),
        ..DirectConfig::default()
    };
    let started = Instant::now();
    let error = client_with(&format!("https://{addr}/scim"), TOKEN, &config)?
        .list(&Endpoint::USERS, &Default::default())
        .await
        .unwrap_err();
    assert!(started.elapsed() < CEILING);
    match error {
        Error::Timeout { after, phase: TimeoutPhase::Connect, .. } => assert_eq!(after, Duration::from_millis(300)),
        other => panic!("expected a connect timeout, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn a_body_that_stops_coming_times_out_in_the_body() -> Result<()> {
    let (addr, _seen) =
        answering("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"total").await?;
    let config = DirectConfig { timeout: Duration::from_millis(500), ..DirectConfig::default() };
    let error = client_with(&format!("http://{addr}/scim"), TOKEN, &config)?
        .list(&Endpoint::USERS, &Default::default())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { phase: TimeoutPhase::Body, .. }), "{error:?}");
    Ok(())
}

#[tokio::test]
async fn redirects_are_reported_not_followed() -> Result<()> {
    // Were the redirect followed, the probe would succeed here.
    let (elsewhere, _) = answering(http_json("200 OK", EMPTY_LIST)).await?;
    let location = format!("http://{elsewhere}/scim/Users");
    let (addr, _) = answering(format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ))
    .await?;
    let failure = client(&format!("http://{addr}/scim"), TOKEN)?.test_connection("userName", GUID).await.unwrap_err();
    match &failure.error {
        Error::Redirect { status, location: to, .. } => {
            assert_eq!(*status, 302);
            assert_eq!(to.as_deref(), Some(location.as_str()));
        }
        other => panic!("expected a redirect, got {other:?}"),
    }
    assert!(failure.to_string().contains("redirects are not followed"), "{failure}");
    Ok(())
}

#[tokio::test]
async fn plain_http_to_another_host_needs_the_switch() -> Result<()> {
    let app = App::new().await?;
    let served = serve(&app, None).await?;
    // A name that is not loopback by policy, pinned to the local server.
    let tenant = format!("http://idp.test:{}/api/2.0/preview/scim", served.addr.port());
    let pinned = vec![("idp.test".to_string(), IpAddr::V4(Ipv4Addr::LOCALHOST))];

    // Refused: nothing sent. The pinned listener below would have accepted a connection, had one been made.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let guarded = format!("http://idp.test:{}/scim", listener.local_addr()?.port());
    let config = DirectConfig { resolve: pinned.clone(), ..DirectConfig::default() };
    let failure = client_with(&guarded, TOKEN, &config)?.test_connection("userName", GUID).await.unwrap_err();
    match &failure.error {
        Error::InsecureHttp { host, .. } => assert_eq!(host, "idp.test"),
        other => panic!("expected the policy's refusal, got {other:?}"),
    }
    assert!(failure.to_string().contains("allow plain HTTP to this target"), "{failure}");
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection was made: {accepted:?}"
    );

    // Allowed by the switch: the probe reaches the identity service.
    let config = DirectConfig { resolve: pinned, allow_insecure_http: true, ..DirectConfig::default() };
    client_with(&tenant, TOKEN, &config)?.test_connection("userName", GUID).await?;
    Ok(())
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_dns_error() -> Result<()> {
    // A label longer than DNS allows (63 octets): the system resolver rejects the name itself, so this test sends
    // no query to any DNS server. Over http (allowed for the test): for https, rustls would refuse the name before
    // any lookup.
    let host = format!("{}.example", "a".repeat(70));
    let config = DirectConfig { allow_insecure_http: true, ..DirectConfig::default() };
    let failure = client_with(&format!("http://{host}/scim"), TOKEN, &config)?
        .test_connection("userName", GUID)
        .await
        .unwrap_err();
    match &failure.error {
        Error::Dns { host: h, reason, .. } => {
            assert_eq!(h, &host);
            assert!(!reason.is_empty());
        }
        other => panic!("expected a DNS failure, got {other:?}"),
    }
    assert!(failure.to_string().contains("could not resolve the host name"), "{failure}");
    Ok(())
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused() -> Result<()> {
    let config = DirectConfig { max_body_bytes: 1000, ..DirectConfig::default() };
    let big = format!(r#"{{"totalResults":0,"Resources":[],"pad":"{}"}}"#, "x".repeat(2000));
    // Announced by Content-Length, and streamed in chunks without one.
    let chunked = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    for response in [http_json("200 OK", &big), chunked] {
        let (addr, _) = answering(response).await?;
        let error = client_with(&format!("http://{addr}/scim"), TOKEN, &config)?
            .list(&Endpoint::USERS, &Default::default())
            .await
            .unwrap_err();
        match error {
            Error::InvalidResponse { reason, .. } => assert!(reason.contains("larger than 1000 bytes"), "{reason}"),
            other => panic!("expected a refused body, got {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn garbage_and_cut_responses_are_invalid() -> Result<()> {
    let (addr, _) = answering("SSH-2.0-OpenSSH_9.6\r\n\r\n").await?;
    let error = client(&format!("http://{addr}/scim"), TOKEN)?.list(&Endpoint::USERS, &Default::default()).await;
    match error {
        Err(Error::InvalidResponse { reason, .. }) => assert!(reason.contains("not valid HTTP/1.1"), "{reason}"),
        other => panic!("expected an invalid response, got {other:?}"),
    }
    let (addr, _) = answering_then_closing("HTTP/1.1 200 OK\r\nContent-Len").await?;
    let error = client(&format!("http://{addr}/scim"), TOKEN)?.list(&Endpoint::USERS, &Default::default()).await;
    match error {
        Err(Error::InvalidResponse { reason, .. }) => {
            assert!(reason.contains("closed the connection before the response was complete"), "{reason}");
        }
        other => panic!("expected a cut response, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn success_without_a_list_response_is_service_incompatible() -> Result<()> {
    for (body, why) in [
        ("<html>Welcome</html>", "not JSON"),
        (r#"{"id":"1","userName":"someone"}"#, "neither totalResults nor Resources"),
        (r#"{"totalResults":"2","Resources":[{"id":"1"},{"id":"2"}]}"#, "does not honour the filter"),
    ] {
        let (addr, _) = answering(http_json("200 OK", body)).await?;
        let failure =
            client(&format!("http://{addr}/scim"), TOKEN)?.test_connection("userName", GUID).await.unwrap_err();
        assert_eq!(failure.code, ConnectionTestCode::ServiceIncompatible, "{failure}");
        let message = failure.to_string();
        assert!(message.contains(why), "{message}");
        assert!(message.contains("body starts: "), "{message}");
    }
    // Tolerated: no schemas, totalResults as a string, SCIM's own media type.
    let lenient = r#"{"totalResults":"0"}"#;
    let (addr, _) = answering(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{lenient}",
        lenient.len()
    ))
    .await?;
    client(&format!("http://{addr}/scim"), TOKEN)?.test_connection("userName", GUID).await?;
    Ok(())
}

#[tokio::test]
async fn databricks_error_bodies_are_read() -> Result<()> {
    let body = r#"{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"Too many requests. Please retry later."}"#;
    let (addr, _) = answering(format!(
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
    .await?;
    let error = client(&format!("http://{addr}/scim"), TOKEN)?.get(&Endpoint::USERS, "123", None).await.unwrap_err();
    let response = error.response().expect("the target's answer");
    assert_eq!(response.status, 429);
    assert_eq!(response.error_code.as_deref(), Some("REQUEST_LIMIT_EXCEEDED"));
    assert_eq!(response.detail.as_deref(), Some("Too many requests. Please retry later."));
    assert_eq!(response.retry_after, Some(Duration::from_secs(3)));
    Ok(())
}

#[tokio::test]
async fn no_content_answers_and_a_creation_without_id() -> Result<()> {
    let no_content = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    let (addr, seen) = answering(no_content).await?;
    let patched = client(&format!("http://{addr}/scim"), TOKEN)?
        .patch(&Endpoint::GROUPS, "g 1", &[json!({"op": "Add", "path": "members", "value": [{"value": "u1"}]})])
        .await?;
    assert_eq!(patched, None);
    let request = seen.await??;
    assert!(request.starts_with("PATCH /scim/Groups/g%201 HTTP/1.1\r\n"), "{request}");
    assert!(
        request.ends_with(
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"u1"}]}]}"#
        ),
        "{request}"
    );

    let (addr, seen) = answering(no_content).await?;
    client(&format!("http://{addr}/scim"), TOKEN)?.delete(&Endpoint::USERS, "42").await?;
    assert!(seen.await??.starts_with("DELETE /scim/Users/42 HTTP/1.1\r\n"));

    // The engine anchors later requests on the id: a creation that does not say it is an error.
    let (addr, _) = answering(http_json("201 Created", r#"{"userName":"x"}"#)).await?;
    let error =
        client(&format!("http://{addr}/scim"), TOKEN)?.create(&Endpoint::USERS, &json!({"userName": "x"})).await;
    match error {
        Err(Error::UnexpectedBody { status: 201, problem, .. }) => assert!(problem.contains("no id"), "{problem}"),
        other => panic!("expected a creation without id to fail, got {other:?}"),
    }
    Ok(())
}
