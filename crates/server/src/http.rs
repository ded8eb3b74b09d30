//! The HTTP front end: liveness, readiness, Prometheus metrics, and a JSON
//! command endpoint that runs under the same limits and auth as RESP.

use crate::commands::connection::constant_time_eq;
use crate::dispatch::Reply;
use crate::node::Node;
use crate::session::Session;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;
use weir_protocol::{Frame, Version};

/// What the HTTP handlers share; the node appears once recovery is done.
pub struct HttpState {
    node: OnceLock<Arc<Node>>,
    requirepass: Option<String>,
    body_limit: usize,
}

impl HttpState {
    pub fn new(requirepass: Option<String>, body_limit: usize) -> Arc<HttpState> {
        Arc::new(HttpState { node: OnceLock::new(), requirepass, body_limit })
    }

    pub fn set_ready(&self, node: Arc<Node>) {
        let _ = self.node.set(node);
    }

    fn ready_node(&self) -> Option<&Arc<Node>> {
        self.node.get()
    }
}

fn loading() -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, "LOADING weir is recovering its log")
}

pub async fn serve(state: Arc<HttpState>, listener: TcpListener) {
    let limit = state.body_limit;
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/command", post(command))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "HTTP server stopped");
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn ready(State(state): State<Arc<HttpState>>) -> Response {
    match state.ready_node() {
        Some(_) => (StatusCode::OK, "ready\n").into_response(),
        None => loading(),
    }
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    let Some(node) = state.ready_node() else { return loading() };
    match crate::metrics::render(node) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed"),
    }
}

fn authorized(state: &HttpState, headers: &HeaderMap) -> bool {
    let Some(expected) = &state.requirepass else { return true };
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    given.is_some_and(|token| constant_time_eq(expected.as_bytes(), token.as_bytes()))
}

/// `POST /v1/command` with a JSON array of strings, e.g. `["INCR","likes:1"]`.
async fn command(State(state): State<Arc<HttpState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, crate::dispatch::NOAUTH);
    }
    let Some(node) = state.ready_node().cloned() else { return loading() };
    let args: Vec<String> = match serde_json::from_slice(&body) {
        Ok(args) => args,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body must be a JSON array of strings: {e}")),
    };
    if args.is_empty() || args.len() > node.config.max_args {
        return error(StatusCode::BAD_REQUEST, "a command needs between 1 and max-args arguments");
    }
    let args: Vec<Bytes> = args.into_iter().map(Bytes::from).collect();
    let frame = run(&node, args).await;
    let status = if frame.is_error() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let body = match &frame {
        Frame::Error(e) => json!({ "error": String::from_utf8_lossy(e) }),
        other => json!({ "result": to_json(other) }),
    };
    (status, Json(body)).into_response()
}

async fn run(node: &Node, args: Vec<Bytes>) -> Frame {
    let client = node.clients.register(None, None);
    let mut session = Session::new(client.clone(), false);
    session.version = Version::Resp3;
    let started = std::time::Instant::now();
    let resolved = args.first().and_then(|name| crate::commands::resolve(name));
    let (command, reply) = node.execute(&mut session, resolved, args, false).await;
    // A request is its own connection: what it subscribed to ends with it.
    node.pubsub.unsubscribe_all(&mut session.pubsub, session.id);
    node.clients.unregister(client.id);
    let frame = match reply {
        Reply::Now(frame) => frame,
        Reply::Later(rx) => rx.await.unwrap_or_else(|_| crate::dispatch::abandoned()),
        // Not asked for (`stage` false).
        Reply::Staged { .. } | Reply::Grouped => Frame::error("ERR internal: a staged write over HTTP"),
        // SHUTDOWN: a RESP client hears nothing; an HTTP one is told.
        Reply::HangUp => Frame::ok(),
        Reply::Several(frames) => Frame::Array(frames),
    };
    node.stats.record(command, started.elapsed(), &frame);
    frame
}

/// A reply as JSON: strings stay strings (bytes that are not UTF-8 become
/// `{"base16": "..."}`), maps become objects when their keys are strings.
pub fn to_json(frame: &Frame) -> Value {
    let text = |b: &Bytes| match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => json!({ "base16": b.iter().map(|x| format!("{x:02x}")).collect::<String>() }),
    };
    match frame {
        Frame::Simple(b) | Frame::Bulk(b) | Frame::Verbatim(b) | Frame::Error(b) => text(b),
        Frame::Integer(n) => json!(n),
        Frame::Null | Frame::NullArray => Value::Null,
        Frame::Boolean(b) => json!(b),
        Frame::Double(d) if d.is_finite() => json!(d),
        Frame::Double(d) => Value::String(weir_protocol::format_double(*d)),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        Frame::Map(pairs) => map_to_json(pairs),
        Frame::Pairs(pairs) | Frame::Keyed(pairs) => {
            Value::Array(pairs.iter().map(|(a, b)| json!([to_json(a), to_json(b)])).collect())
        }
    }
}

fn map_to_json(pairs: &[(Frame, Frame)]) -> Value {
    let mut object = serde_json::Map::new();
    for (key, value) in pairs {
        match to_json(key) {
            Value::String(k) => {
                object.insert(k, to_json(value));
            }
            _ => return Value::Array(pairs.iter().map(|(k, v)| json!([to_json(k), to_json(v)])).collect()),
        }
    }
    Value::Object(object)
}
