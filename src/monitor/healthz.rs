//! `/healthz`: `200 {"status":"ok"}` only once the client listener is
//! accepting (and not once shutdown has begun), else `500` with nats-server's
//! `failed to be ready for connections` error — a meaningful Kubernetes probe
//! (nats-server#2687, #2815). Compact JSON, like Go's.
//!
//! Accepts nats-server 2.10's parameters: `js-enabled`, `js-enabled-only`,
//! `js-server-only` and `details` must be booleans (else 400); `account`,
//! `stream`, `consumer` are checked for consistency as Go does, and otherwise
//! have nothing to check without JetStream. With `details=true` errors are
//! listed in `errors` instead of `error`. As in Go, the status code is not
//! repeated in the body.
//!
//! Must never wait: readiness is one atomic load.

use std::sync::atomic::Ordering::Relaxed;

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::{respond, text, BadRequest, Monitor, Query};
use crate::log;

#[derive(Serialize, Debug, PartialEq)]
pub struct HealthStatus {
    status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<HealthError>,
}

#[derive(Serialize, Debug, PartialEq)]
struct HealthError {
    #[serde(rename = "type")]
    kind: &'static str,
    error: String,
}

/// The `readyForConnections` failure text, naming what is not listening.
const NOT_READY: &str = "failed to be ready for connections after 1ms: server";

pub(super) fn handle(m: &Monitor, q: &Query) -> Response {
    m.count("/healthz");
    let decoded = (|| -> Result<bool, BadRequest> {
        if q.bool("js-enabled")? {
            log::warn!("Healthcheck: js-enabled deprecated, use js-enabled-only instead");
        }
        q.bool("js-enabled-only")?;
        q.bool("js-server-only")?;
        q.bool("details")
    })();
    let details = match decoded {
        Ok(details) => details,
        Err(BadRequest(msg)) => return text(StatusCode::BAD_REQUEST, msg),
    };
    let ready = m.server.ready.load(Relaxed) && !m.server.is_shutting_down();
    let (code, status) = health(
        ready,
        details,
        q.get("account"),
        q.get("stream"),
        q.get("consumer"),
    );
    if !status.error.is_empty() {
        log::warn!("Healthcheck failed: {:?}", status.error);
    } else if !status.errors.is_empty() {
        log::warn!("Healthcheck failed: {} errors", status.errors.len());
    }
    let body = serde_json::to_vec(&status).expect("health status serialises");
    respond(q, code, body)
}

fn health(
    ready: bool,
    details: bool,
    account: &str,
    stream: &str,
    consumer: &str,
) -> (StatusCode, HealthStatus) {
    let fail = |code: StatusCode, kind: &'static str, msg: String| {
        let status = if details {
            HealthStatus {
                status: "error",
                error: String::new(),
                errors: vec![HealthError { kind, error: msg }],
            }
        } else {
            HealthStatus {
                status: "error",
                error: msg,
                errors: Vec::new(),
            }
        };
        (code, status)
    };
    if account.is_empty() && !stream.is_empty() {
        let msg = "\"account\" must not be empty when checking stream health".to_string();
        return fail(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg);
    }
    if stream.is_empty() && !consumer.is_empty() {
        let msg = "\"stream\" must not be empty when checking consumer health".to_string();
        return fail(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg);
    }
    if !ready {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "CONNECTION",
            NOT_READY.to_string(),
        );
    }
    let ok = HealthStatus {
        status: "ok",
        error: String::new(),
        errors: Vec::new(),
    };
    (StatusCode::OK, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &HealthStatus) -> String {
        serde_json::to_string(s).unwrap()
    }

    #[test]
    fn ok_only_when_ready() {
        let (code, s) = health(true, false, "", "", "");
        assert_eq!(
            (code, body(&s).as_str()),
            (StatusCode::OK, r#"{"status":"ok"}"#)
        );
        let (code, s) = health(false, false, "", "", "");
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body(&s),
            r#"{"status":"error","error":"failed to be ready for connections after 1ms: server"}"#
        );
        let (_, s) = health(false, true, "", "", "");
        assert_eq!(
            body(&s),
            r#"{"status":"error","errors":[{"type":"CONNECTION","error":"failed to be ready for connections after 1ms: server"}]}"#
        );
    }

    #[test]
    fn stream_needs_account() {
        let (code, s) = health(true, false, "", "S", "");
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(s.error.contains("\"account\" must not be empty"));
        let (code, _) = health(true, false, "A", "", "C");
        assert_eq!(code, StatusCode::BAD_REQUEST);
    }
}
