//! The HTTP application: routes, their OpenAPI document, and the layers around them.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::{middleware, Router};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http;
use crate::routes::{
    agents, auth, badge, compliance, docs, executions, github_webhook, glass_box, health, presets, release_evidence,
    releases, settings, tasks, tokens, trust, users, workflows, ws,
};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Certior API",
        description = "Certior decides whether agents may get capabilities, call tools, run workflow stages \
                       and ship commits, and leaves signed evidence of every decision.\n\n\
                       Authenticate with `Authorization: Bearer ck-…` or `X-API-Key: ck-…`. Errors are \
                       `{\"detail\": …}`; validation errors (422) add `errors`. Timestamps are epoch seconds. \
                       Where the v1 contract leaves a choice: a malformed `user_id` in a path is answered like \
                       an unknown id (404), and registration rate limits count every anonymous attempt. \
                       Execution tokens do not expire (the execution time limit bounds a run). A webhook host \
                       is refused when it is or resolves to a loopback, private or link-local address unless \
                       allow-listed. A workflow stage refused by a preset's own `run_stage` rule fails with \
                       `Stage admission denied by policy: <policy ids>`; one refused by `stage` plugins with \
                       `Stage admission denied by content policy: <codes>`. Tool-output labels and the labels \
                       a call carried become the execution's context labels for LLM runs."
    ),
    servers((url = "http://127.0.0.1:8000", description = "Local development")),
    modifiers(&SecuritySchemes),
    tags((name = "platform"), (name = "auth", description = "Users, API keys and sessions"),
        (name = "tasks", description = "Submit agent runs whose every tool call passes the Guard"),
        (name = "executions", description = "Task runs: status, tool-call records, hash-chained events"),
        (name = "workflows", description = "Ordered stages, each a verified execution; review before release"),
        (name = "compliance", description = "Presets: Cedar policies and Wasm plugins"),
        (name = "agents", description = "Plan verification, delegation between agents, the Glass Box"),
        (name = "tokens", description = "Signed capability tokens; children attenuate their parents"),
        (name = "settings", description = "LLM providers and the server's default"),
        (name = "releases", description = "Release evidence, per-repo release policy, decisions, promotions, GitHub"),
        (name = "trust", description = "Public keys and verification of signed evidence"))
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// All routes with their OpenAPI description, before layers.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::rotate))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(users::list_users))
        .routes(routes!(users::update_user))
        .routes(routes!(settings::list_providers))
        .routes(routes!(settings::switch_provider))
        .routes(routes!(settings::validate_provider))
        .routes(routes!(tasks::create_task))
        .routes(routes!(executions::list_executions))
        .routes(routes!(executions::get_execution, executions::cancel_execution))
        .routes(routes!(executions::execution_steps))
        .routes(routes!(executions::execution_events))
        .routes(routes!(ws::stream_execution))
        .routes(routes!(workflows::create_workflow, workflows::list_workflows))
        .routes(routes!(workflows::get_workflow, workflows::cancel_workflow))
        .routes(routes!(workflows::export_workflow))
        .routes(routes!(presets::list_presets, presets::upload_preset))
        .routes(routes!(presets::get_preset, presets::deprecate_preset))
        .routes(routes!(compliance::export_execution))
        .routes(routes!(agents::verify_plan))
        .routes(routes!(agents::delegate))
        .routes(routes!(agents::delegation_graph))
        .routes(routes!(glass_box::create_record, glass_box::list_records))
        .routes(routes!(tokens::create_token, tokens::list_tokens))
        .routes(routes!(tokens::get_token, tokens::revoke_token))
        .routes(routes!(releases::decision))
        .routes(routes!(releases::health))
        .routes(routes!(releases::promotions))
        .routes(routes!(releases::promote))
        .routes(routes!(releases::get_policy, releases::put_policy))
        .routes(routes!(release_evidence::record_evidence))
        .routes(routes!(github_webhook::github_webhook))
        .routes(routes!(badge::badge))
        .routes(routes!(badge::badge_json))
        .routes(routes!(trust::keys))
        .routes(routes!(trust::verify))
}

pub fn router(state: AppState) -> anyhow::Result<Router> {
    let cors_origins = Arc::new(http::CorsOrigins::parse(&state.settings.cors_origins)?);
    let (routes, api) = api_routes().split_for_parts();
    let app = routes
        .route_layer(middleware::from_fn_with_state(state.clone(), http::limit_body))
        .layer(DefaultBodyLimit::disable())
        .merge(docs::router(api))
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(cors_origins, http::cors))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::x_request_id()),
        );
    Ok(app)
}
