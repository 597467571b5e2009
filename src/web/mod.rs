//! The management interface: a web page, the Go engarde's JSON API and
//! Prometheus metrics, served by actix-web (`webManager` in either section
//! of the configuration).
//!
//! It runs on its own actix-web worker thread and learns everything from
//! the actors (requests bounded by a timeout) and the data path's
//! relaxed-atomic counters, so it never takes a lock the data path takes
//! and a slow or hostile HTTP client cannot slow the packets. docs/api.md
//! and docs/metrics.md describe what it serves.
//!
//! - [`auth`], [`base64`]: basic authentication on every route.
//! - [`api`]: the routes; [`json`] and [`metrics`] render a [`Snapshot`].
//! - [`state`]: what the routes read and how; [`page`]: the page itself.

mod api;
pub mod auth;
pub mod base64;
mod error;
mod json;
mod metrics;
mod page;
mod state;

pub use state::{Context, Daemon, Facts, Snapshot};

use crate::config::WebManagerConfig;
use crate::error::StartError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, Error, HttpResponse, HttpServer, web};
use api::Action;
use auth::Credentials;
use error::ApiError;
use log::{info, warn};
use std::net::SocketAddr;
use std::time::Duration;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;

/// A running management interface.
pub struct WebServer {
    /// Where it listens (the port is the real one when 0 was asked for).
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl WebServer {
    /// Stops listening and waits for the worker to finish.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// What every request is checked against.
struct Guard {
    credentials: Option<Credentials>,
}

/// Binds `config.listenAddr` and starts serving; call inside a running actix
/// `System`. Warns loudly when the interface is open to the network
/// without credentials.
pub fn start(config: &WebManagerConfig, context: Context) -> Result<WebServer, StartError> {
    let credentials = Credentials::new(&config.username, &config.password);
    let open = credentials.is_none();
    let guard = web::Data::new(Guard { credentials });
    let context = web::Data::new(state::Shared::new(context));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(guard.clone())
            .app_data(context.clone())
            .wrap(from_fn(check_request))
            .service(only(Method::GET, "/", web::get().to(page::index)))
            .service(only(Method::GET, "/app.js", web::get().to(page::script)))
            .service(only(Method::GET, "/style.css", web::get().to(page::style)))
            .service(only(Method::GET, "/metrics", web::get().to(api::metrics)))
            .service(only(
                Method::GET,
                "/api/v1/get-list",
                web::get().to(api::get_list),
            ))
            .service(only(
                Method::POST,
                "/api/v1/include",
                web::post().to(|c, r, p| api::interface_action(Action::Include, c, r, p)),
            ))
            .service(only(
                Method::POST,
                "/api/v1/exclude",
                web::post().to(|c, r, p| api::interface_action(Action::Exclude, c, r, p)),
            ))
            .service(only(
                Method::POST,
                "/api/v1/swap-exclusion",
                web::post().to(|c, r, p| api::interface_action(Action::Swap, c, r, p)),
            ))
            .service(only(
                Method::POST,
                "/api/v1/reset-exclusions",
                web::post().to(api::reset_exclusions),
            ))
            .default_service(web::to(api::not_found))
    })
    // One worker thread, away from the actors' thread that carries packets.
    .workers(1)
    // The daemon handles SIGINT/SIGTERM itself.
    .disable_signals()
    .shutdown_timeout(1)
    .max_connections(MAX_CONNECTIONS)
    .backlog(64)
    .client_request_timeout(Duration::from_secs(5))
    .client_disconnect_timeout(Duration::from_secs(1))
    .bind(config.listen_addr)
    .map_err(|source| StartError::Socket {
        what: "the management interface (webManager.listenAddr)",
        addr: config.listen_addr,
        source,
    })?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    info!(
        "management interface on http://{addr}/ ({})",
        if open {
            "no password"
        } else {
            "password required"
        }
    );
    if open && !addr.ip().is_loopback() {
        warn!(
            "!!! the management interface on {addr} is reachable from the network WITHOUT A PASSWORD: \
             anyone who reaches it can see your links and switch them off. \
             Set webManager.username and webManager.password, or listen on 127.0.0.1 !!!"
        );
    }
    Ok(WebServer { addr, handle })
}

/// A route answering `method` with `route`, and 405 to any other method.
fn only(method: Method, path: &str, route: actix_web::Route) -> actix_web::Resource {
    let allow = if method == Method::GET { "GET" } else { "POST" };
    web::resource(path)
        .route(route)
        .default_service(web::to(move || async move {
            Err::<HttpResponse, _>(ApiError::method_not_allowed(allow))
        }))
}

/// Authentication, the cross-site check, and headers every answer carries.
async fn check_request(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let guard = request
        .app_data::<web::Data<Guard>>()
        .expect("the guard is registered with the app");
    let refusal = if let Some(credentials) = &guard.credentials {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        (!credentials.accept(authorization)).then(unauthorized)
    } else {
        None
    }
    .or_else(|| cross_site(&request));
    let mut response = match refusal {
        Some(refusal) => request.into_response(refusal).map_into_right_body(),
        None => next.call(request).await?.map_into_left_body(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((
            header::WWW_AUTHENTICATE,
            format!("Basic realm=\"{}\", charset=\"UTF-8\"", auth::REALM),
        ))
        .json(serde_json::json!({ "status": "error", "error": "authentication required" }))
}

/// Refuses a state-changing request a browser sent from another site's page
/// (browsers send the credentials they know along with it). Scripts send no
/// `Origin` and are not affected.
fn cross_site(request: &ServiceRequest) -> Option<HttpResponse> {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let origin = request
        .headers()
        .get(header::ORIGIN)?
        .to_str()
        .unwrap_or("");
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    if authority.is_some_and(|a| !host.is_empty() && a.eq_ignore_ascii_case(host)) {
        return None;
    }
    Some(
        HttpResponse::build(StatusCode::FORBIDDEN).json(serde_json::json!({
            "status": "error",
            "error": format!("cross-site request refused (Origin {origin:?} is not this server)"),
        })),
    )
}
