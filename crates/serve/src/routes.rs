//! The routes: `/predict`, `/translate`, `/attend`, `/embed`, `/v1/embeddings`, `/tokenize`,
//! `/info` (behind the API key when one is set), `/health`, `/metrics` and the explorer page `/`, with the body's size and time
//! limits, JSON errors, panics answered 500, and every request let in by the gate, counted and
//! timed.

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::attention::Attention;
use crate::config::ServeConfig;
use crate::error::{ApiError, ErrorType};
use crate::explorer;
use crate::frontend::{Frontend, Kind};
use crate::gate::Gate;
use crate::infer::Infer;
use crate::job::{Output, Sized};
use crate::metrics::{Metrics, Route, RouteStatus};
use crate::types::{
    AttendRequest, EmbedPooling, EmbedRequest, EncodingFormat, MAX_BEAM, OpenAiRequest,
    PredictRequest, SimpleToken, TokenizeRequest, TranslateRequest,
};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The settings.
    pub cfg: Arc<ServeConfig>,
    /// The model's reader.
    pub front: Arc<Frontend>,
    /// The way to the worker.
    pub infer: Infer,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// What lets requests in, and stops them at shutdown.
    pub gate: Arc<Gate>,
}

/// The server's routes over `state`.
pub fn router(state: AppState) -> Router {
    let key = state.cfg.api_key.clone().map(Arc::<str>::from);
    let api = Router::new()
        .route("/predict", post(predict))
        .route("/translate", post(translate))
        .route("/attend", post(attend))
        .route("/embed", post(embed))
        .route("/v1/embeddings", post(openai))
        .route("/tokenize", post(tokenize))
        .route("/info", get(info))
        .route_layer(middleware::from_fn_with_state(key, authorize));
    Router::new()
        .merge(api)
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/metrics", get(render))
        .merge(explorer::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, ErrorType::NotFound, "no such route")
        })
        .layer(DefaultBodyLimit::max(state.cfg.payload_limit))
        .layer(RequestBodyTimeoutLayer::new(state.cfg.request_timeout))
        .layer(CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// Lets each request in (503 once stopping), counts and times it by its route and answer.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let pass = match state.gate.enter() {
        Ok(pass) => pass,
        Err(stopping) => return stopping.into_response(),
    };
    let metrics = &state.metrics;
    let route = (request.extensions().get::<MatchedPath>())
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let counted = RouteStatus {
        route: route.clone(),
        status,
    };
    metrics.requests.get_or_create(&counted).inc();
    let timed = metrics.latency.get_or_create(&Route { route });
    timed.observe(start.elapsed().as_secs_f64());
    pass.answered();
    response
}

async fn render(State(state): State<AppState>) -> Response {
    let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, kind)], state.metrics.render()).into_response()
}

/// 401 without `Authorization: Bearer KEY` when the server has a key.
async fn authorize(State(key): State<Option<Arc<str>>>, request: Request, next: Next) -> Response {
    if let Some(key) = key {
        let given = (request.headers().get(header::AUTHORIZATION))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(&*key) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorType::Unauthorized,
                "missing or wrong `Authorization: Bearer` key (--api-key)",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// A panic in a handler, answered 500 (the server goes on).
fn panicked(panic: Box<dyn Any + Send + 'static>) -> Response {
    ApiError::panicked("the request", &*panic).into_response()
}

impl AppState {
    /// Refuses an empty request (400) or one of more inputs than a client may send (422).
    fn check_count(&self, n: usize) -> Result<(), ApiError> {
        if n == 0 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorType::Empty,
                "`inputs` cannot be empty",
            ));
        }
        let most = self.cfg.max_client_batch_size;
        if n > most {
            return Err(ApiError::validation(format!(
                "batch size {n} > maximum allowed batch size {most} (--max-client-batch-size)"
            )));
        }
        Ok(())
    }

    /// Tokenizes off the async threads with `read`, then runs the jobs.
    async fn run<F>(&self, read: F) -> Result<(Vec<Output>, usize), ApiError>
    where
        F: FnOnce(&Frontend) -> Result<Vec<Sized>, ApiError> + Send + 'static,
    {
        let front = self.front.clone();
        let jobs = tokio::task::spawn_blocking(move || read(&front))
            .await
            .map_err(|e| ApiError::internal(format!("tokenizing: {e}")))??;
        let tokens = jobs.iter().map(|(_, n)| n).sum();
        Ok((self.infer.run(jobs).await?, tokens))
    }
}

async fn predict(
    State(state): State<AppState>,
    body: Result<Json<PredictRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(request) = body?;
    let (inputs, one) = request.inputs.sequences()?;
    state.check_count(inputs.len())?;
    let truncate = request.truncate.unwrap_or(state.cfg.auto_truncate);
    let (outputs, _) = state
        .run(move |front| front.predict_jobs(inputs, truncate))
        .await?;
    let mut answers: Vec<Value> = (outputs.into_iter())
        .map(|o| state.front.prediction(o, request.raw_scores))
        .collect();
    Ok(Json(if one {
        answers.remove(0)
    } else {
        Value::Array(answers)
    }))
}

async fn translate(
    State(state): State<AppState>,
    body: Result<Json<TranslateRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(request) = body?;
    let Kind::Translator(default) = state.front.kind else {
        return Err(ApiError::backend(
            "the model is not a translator: use /predict or /embed",
        ));
    };
    let beam = request.beam.unwrap_or(default);
    if !(1..=MAX_BEAM).contains(&beam) {
        return Err(ApiError::validation(format!(
            "`beam` must be 1 (greedy) to {MAX_BEAM}. Given: {beam}"
        )));
    }
    let one = request.inputs.is_one();
    let texts = request.inputs.into_vec();
    state.check_count(texts.len())?;
    let truncate = request.truncate.unwrap_or(state.cfg.auto_truncate);
    let (outputs, _) = state
        .run(move |front| front.translate_jobs(texts, truncate, beam))
        .await?;
    let mut answers: Vec<Value> = (outputs.into_iter())
        .map(|o| json!(state.front.translation(o, request.alignment)))
        .collect();
    Ok(Json(if one {
        answers.remove(0)
    } else {
        Value::Array(answers)
    }))
}

async fn attend(
    State(state): State<AppState>,
    body: Result<Json<AttendRequest>, JsonRejection>,
) -> Result<Json<Attention>, ApiError> {
    let Json(request) = body?;
    if request.inputs.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorType::Empty,
            "`inputs` cannot be empty",
        ));
    }
    let pick = match (request.layer, request.head) {
        (Some(layer), Some(head)) => Some((layer, head)),
        (None, None) => None,
        _ => {
            return Err(ApiError::validation(
                "`layer` and `head` go together: give both, or neither for every head",
            ));
        }
    };
    let truncate = request.truncate.unwrap_or(state.cfg.auto_truncate);
    let text = request.inputs;
    let (mut outputs, _) = state
        .run(move |front| Ok(vec![front.attend_job(text, pick, truncate)?]))
        .await?;
    match outputs.remove(0) {
        Output::Attention(attention) => Ok(Json(attention)),
        other => unreachable!("/attend answered {other:?}"),
    }
}

/// The request's embeddings, normalised if asked, and their token count.
async fn embeddings(
    state: &AppState,
    texts: Vec<String>,
    truncate: bool,
    pooling: EmbedPooling,
    normalize: bool,
) -> Result<(Vec<Vec<f32>>, usize), ApiError> {
    state.check_count(texts.len())?;
    let (outputs, tokens) = state
        .run(move |front| front.embed_jobs(texts, truncate, pooling))
        .await?;
    let vectors = (outputs.into_iter())
        .map(|o| match o {
            Output::Embedding(mut v) => {
                if normalize {
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                    v.iter_mut().for_each(|x| *x /= norm);
                }
                v
            }
            other => unreachable!("an encoder answered {other:?}"),
        })
        .collect();
    Ok((vectors, tokens))
}

async fn embed(
    State(state): State<AppState>,
    body: Result<Json<EmbedRequest>, JsonRejection>,
) -> Result<Json<Vec<Vec<f32>>>, ApiError> {
    let Json(request) = body?;
    let truncate = request.truncate.unwrap_or(state.cfg.auto_truncate);
    let texts = request.inputs.into_vec();
    let (vectors, _) =
        embeddings(&state, texts, truncate, request.pooling, request.normalize).await?;
    Ok(Json(vectors))
}

async fn openai(
    State(state): State<AppState>,
    body: Result<Json<OpenAiRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(request) = body?;
    let texts = request.input.into_vec();
    let truncate = state.cfg.auto_truncate;
    let (vectors, tokens) = embeddings(&state, texts, truncate, EmbedPooling::Mean, true).await?;
    let data: Vec<Value> = (vectors.into_iter().enumerate())
        .map(|(index, v)| {
            let embedding = match request.encoding_format {
                EncodingFormat::Float => json!(v),
                EncodingFormat::Base64 => {
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
            };
            json!({"object": "embedding", "embedding": embedding, "index": index})
        })
        .collect();
    let model = request
        .model
        .unwrap_or_else(|| state.front.model_id.clone());
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })))
}

async fn tokenize(
    State(state): State<AppState>,
    body: Result<Json<TokenizeRequest>, JsonRejection>,
) -> Result<Json<Vec<Vec<SimpleToken>>>, ApiError> {
    let Json(request) = body?;
    let texts = request.inputs.into_vec();
    state.check_count(texts.len())?;
    let front = state.front.clone();
    let specials = request.add_special_tokens;
    let tokens = tokio::task::spawn_blocking(move || front.tokenize(&texts, specials))
        .await
        .map_err(|e| ApiError::internal(format!("tokenizing: {e}")))??;
    Ok(Json(tokens))
}

async fn info(State(state): State<AppState>) -> Json<Value> {
    Json(state.front.info(&state.cfg))
}
