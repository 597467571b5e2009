//! The routes: the Go engarde's `/api/v1/...` and `/metrics`.
//!
//! A request that changes something is a POST with a small JSON body; a
//! malformed one (not JSON, no `interface`, an unknown interface, a body
//! over [`MAX_BODY`]) gets a 4xx with a JSON error and changes nothing.

use super::error::ApiError;
use super::state::Shared;
use super::{json, metrics};
use crate::actors::interface_report::{ExclusionOutcome, ExclusionRequest};
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, web};

/// Largest request body accepted; `{"interface": NAME}` needs far less.
pub const MAX_BODY: usize = 4096;

/// Answers that must never be cached (they change every second).
fn no_store() -> CacheControl {
    CacheControl(vec![CacheDirective::NoStore])
}

/// `GET /api/v1/get-list`.
pub async fn get_list(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let snapshot = shared.snapshot().await?;
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .json(json::get_list(&shared.context.facts, &snapshot)))
}

/// `GET /metrics`.
pub async fn metrics(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let snapshot = shared.snapshot().await?;
    let context = &shared.context;
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .content_type(metrics::CONTENT_TYPE)
        .body(metrics::render(
            &context.facts,
            context.daemon.role(),
            &snapshot,
        )))
}

/// The interface named by `{"interface": NAME}` (other keys are ignored,
/// as the Go engarde did).
fn interface_name(body: &[u8]) -> Result<String, ApiError> {
    let expected = "the body must be a JSON object like {\"interface\": \"eth0\"}";
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("{expected}: {error}")))?;
    match value.get("interface") {
        Some(serde_json::Value::String(name)) if !name.is_empty() => Ok(name.clone()),
        Some(serde_json::Value::String(_)) => Err(ApiError::bad_request("\"interface\" is empty")),
        Some(_) => Err(ApiError::bad_request(format!(
            "\"interface\" must be a string: {expected}"
        ))),
        None => Err(ApiError::bad_request(format!(
            "no \"interface\" key: {expected}"
        ))),
    }
}

/// Which interface request a route makes.
#[derive(Clone, Copy)]
pub enum Action {
    /// `POST /api/v1/include`.
    Include,
    /// `POST /api/v1/exclude`.
    Exclude,
    /// `POST /api/v1/swap-exclusion`.
    Swap,
}

/// `POST /api/v1/{include,exclude,swap-exclusion}` with `{"interface": NAME}`.
pub async fn interface_action(
    action: Action,
    shared: web::Data<Shared>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&request, payload).await?;
    let interface = interface_name(&body)?;
    let request = match action {
        Action::Include => ExclusionRequest::Include(interface),
        Action::Exclude => ExclusionRequest::Exclude(interface),
        Action::Swap => ExclusionRequest::Swap(interface),
    };
    respond(shared.change_exclusion(request).await?)
}

/// `POST /api/v1/reset-exclusions` (any body is ignored, but must be small).
pub async fn reset_exclusions(
    shared: web::Data<Shared>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    read_body(&request, payload).await?;
    respond(shared.change_exclusion(ExclusionRequest::Reset).await?)
}

fn respond(outcome: ExclusionOutcome) -> Result<HttpResponse, ApiError> {
    let body = match outcome {
        ExclusionOutcome::Interface {
            name,
            excluded,
            changed,
        } => serde_json::json!({
            "status": "ok", "interface": name, "excluded": excluded, "changed": changed,
        }),
        ExclusionOutcome::Reset { changed } => {
            serde_json::json!({ "status": "ok", "changed": changed })
        }
    };
    Ok(HttpResponse::Ok().insert_header(no_store()).json(body))
}

/// Reads the body, refusing more than [`MAX_BODY`] bytes without reading them all.
async fn read_body(request: &HttpRequest, payload: web::Payload) -> Result<web::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY} bytes"),
        )
    };
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_BODY as u64) {
        return Err(too_large());
    }
    match payload.to_bytes_limited(MAX_BODY).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(error)) => Err(ApiError::bad_request(format!(
            "cannot read the body: {error}"
        ))),
        Err(_) => Err(too_large()),
    }
}

/// Any route that does not exist.
pub async fn not_found(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no such route: {}",
        request.path()
    )))
}
