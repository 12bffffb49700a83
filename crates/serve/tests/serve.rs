//! `attn serve` over real HTTP on a tiny model: TEI's shapes, the answers equal to running the
//! model directly, batching that changes no answer, and every bad request a JSON 4xx.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use attn_serve::{ServeConfig, ServeError, Tally, serve_until};
use attn_tag::{load_tagger, tag_texts};
use attn_train::TrainConfig;
use attn_transformer::{
    BertForSequenceClassification, BertInput, BertModel, BertTokenizer, Pooling, mean_pool,
};
use burn::backend::Flex;
use serde_json::{Value, json};

type B = Flex;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../transformer/tests/fixtures")
        .join(name)
}

/// A server on a free port, stopped (and joined) on drop.
struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<Tally, ServeError>>>,
}

impl Server {
    fn start(model: &str, tune: impl FnOnce(&mut ServeConfig)) -> Self {
        let mut cfg = ServeConfig {
            model: fixture(model),
            addr: "127.0.0.1:0".into(),
            max_len: 32,
            ..ServeConfig::default()
        };
        tune(&mut cfg);
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let listening = move |addr| addr_tx.send(addr).expect("the test waits");
            serve_until::<B>(cfg, &Default::default(), listening, async {
                let _ = stopped.await;
            })
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the server listens");
        Self {
            url: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    async fn post(&self, route: &str, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{route}", self.url))
            .json(&body)
            .send()
            .await
            .expect("an answer");
        answer(response).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.take().expect("running").send(());
        let result = self
            .thread
            .take()
            .expect("running")
            .join()
            .expect("no panic");
        if !std::thread::panicking() {
            result.expect("the server stops cleanly");
        }
    }
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{status}: {text:?} is not JSON: {e}"))
    };
    (status, body)
}

/// The tiny classifier's logits for `text`, run directly.
fn logits(text: &str) -> Vec<f32> {
    let dir = fixture("tiny-bert-cls");
    let device = Default::default();
    let (model, _) =
        BertForSequenceClassification::<B>::from_pretrained(&dir, None, Pooling::Cls, &device)
            .unwrap();
    let tokenizer = BertTokenizer::from_dir(&dir, 32).unwrap();
    let encoded = tokenizer.encode(text).unwrap();
    let input = BertInput::from_encoded(&[encoded], tokenizer.pad_id, &device);
    model.forward(input).unwrap().into_data().to_vec().unwrap()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
}

/// `/predict`'s scores by label.
fn scores(answer: &Value, labels: &[&str]) -> Vec<f32> {
    let list = answer.as_array().expect("a list of labels");
    labels
        .iter()
        .map(|l| {
            let found = list.iter().find(|p| p["label"] == *l).expect("every label");
            found["score"].as_f64().unwrap() as f32
        })
        .collect()
}

const LABELS: [&str; 3] = ["World", "Sports", "Business"];

#[tokio::test(flavor = "multi_thread")]
async fn a_classifier_answers_as_tei_with_the_models_own_numbers() {
    let server = Server::start("tiny-bert-cls", |_| {});
    let text = "the match ended in a draw";
    let direct = logits(text);

    let (status, one) = server.post("/predict", json!({"inputs": text})).await;
    assert_eq!(status, 200, "{one}");
    let list = one.as_array().unwrap();
    let sorted: Vec<f64> = list.iter().map(|p| p["score"].as_f64().unwrap()).collect();
    assert!(
        sorted.windows(2).all(|w| w[0] >= w[1]),
        "sorted by score: {one}"
    );
    let probs = scores(&one, &LABELS);
    let top = direct.iter().copied().fold(f32::MIN, f32::max);
    let exp: Vec<f32> = direct.iter().map(|x| (x - top).exp()).collect();
    let want: Vec<f32> = exp.iter().map(|e| e / exp.iter().sum::<f32>()).collect();
    assert!(close(&probs, &want), "{probs:?} vs {want:?}");

    let (_, raw) = server
        .post("/predict", json!({"inputs": text, "raw_scores": true}))
        .await;
    assert!(close(&scores(&raw, &LABELS), &direct));

    // A batch answers a list per input; `["a", "b"]` is one pair, answered flat.
    let (status, batch) = server
        .post(
            "/predict",
            json!({"inputs": [[text], "second text", ["a", "b"]]}),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch.as_array().unwrap().len(), 3);
    assert!(close(&scores(&batch[0], &LABELS), &probs));
    let (status, pair) = server.post("/predict", json!({"inputs": ["a", "b"]})).await;
    assert_eq!((status, pair.as_array().unwrap().len()), (200, 3), "{pair}");
    assert!(pair[0]["label"].is_string());

    let (status, info) = server.post_get("/info").await;
    assert_eq!(status, 200);
    assert_eq!(info["model_type"]["classifier"]["id2label"]["1"], "Sports");
    assert_eq!(info["max_input_length"], 32);
}

impl Server {
    async fn post_get(&self, route: &str) -> (u16, Value) {
        let response = reqwest::get(format!("{}{route}", self.url))
            .await
            .expect("an answer");
        answer(response).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_are_batched_and_answered_as_alone() {
    let server = Server::start("tiny-bert-cls", |cfg| cfg.max_batch_requests = 8);
    let texts: Vec<String> = (0..48)
        .map(|i| format!("text number {i} {}", "word ".repeat(i % 5)))
        .collect();
    let raw = |t: &String| json!({"inputs": t, "raw_scores": true});
    let answers = futures_all(&server, texts.iter().map(raw).collect()).await;
    for (text, (status, answer)) in texts.iter().zip(&answers) {
        assert_eq!(*status, 200, "{answer}");
        assert!(close(&scores(answer, &LABELS), &logits(text)), "{text}");
    }
}

/// Sends every body to `/predict` at once.
async fn futures_all(server: &Server, bodies: Vec<Value>) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let url = format!("{}/predict", server.url);
            tokio::spawn(async move {
                let response = reqwest::Client::new().post(url).json(&body).send().await;
                answer(response.expect("an answer")).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("no panic"));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_json_errors_naming_the_limit() {
    let server = Server::start("tiny-bert-cls", |cfg| {
        cfg.payload_limit = 4000;
        cfg.max_client_batch_size = 4;
    });
    let long = "word ".repeat(40);
    let cases = [
        (json!({"inputs": ["a", "b", "c"]}), 422, "Validation"),
        (
            json!({"inputs": [["a"], ["b"], ["c"], ["d"], ["e"]]}),
            422,
            "Validation",
        ),
        (json!({"inputs": []}), 400, "Empty"),
        (json!({"inputs": 5}), 422, "Validation"),
        (json!({"text": "a"}), 422, "Validation"),
        (json!({"inputs": long}), 422, "Validation"),
        (json!({"inputs": "x".repeat(5000)}), 413, "PayloadTooLarge"),
    ];
    for (body, status, kind) in cases {
        let (got, error) = server.post("/predict", body.clone()).await;
        assert_eq!(
            (got, &error["error_type"]),
            (status, &json!(kind)),
            "{body}: {error}"
        );
        assert!(error["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    // Too long, unless truncated.
    let (status, _) = server
        .post("/predict", json!({"inputs": long, "truncate": true}))
        .await;
    assert_eq!(status, 200);
    // Malformed JSON and invalid UTF-8.
    for bytes in [
        b"{\"inputs\": ".to_vec(),
        b"{\"inputs\": \"\xff\xfe\"}".to_vec(),
    ] {
        let response = reqwest::Client::new()
            .post(format!("{}/predict", server.url))
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let (status, error) = answer(response).await;
        assert!((400..500).contains(&status), "{status}: {error}");
        assert!(error["error"].is_string(), "{error}");
    }
    // A route this model has no answer for, and none at all.
    let (status, error) = server.post("/embed", json!({"inputs": "a"})).await;
    assert_eq!((status, &error["error_type"]), (424, &json!("Backend")));
    let (status, error) = server.post("/nothing", json!({})).await;
    assert_eq!((status, &error["error_type"]), (404, &json!("NotFound")));
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_queue_limit_a_request_gets_429_and_retry_after() {
    let server = Server::start("tiny-bert-cls", |cfg| cfg.max_concurrent_requests = 1);
    let response = reqwest::Client::new()
        .post(format!("{}/predict", server.url))
        .json(&json!({"inputs": [["a"], ["b"]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    let (status, error) = answer(response).await;
    assert_eq!((status, &error["error_type"]), (429, &json!("Overloaded")));
    let (status, _) = server.post("/predict", json!({"inputs": "a"})).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_key_guards_every_route_but_health() {
    let server = Server::start("tiny-bert-cls", |cfg| cfg.api_key = Some("secret".into()));
    let (status, error) = server.post("/predict", json!({"inputs": "a"})).await;
    assert_eq!(
        (status, &error["error_type"]),
        (401, &json!("Unauthorized"))
    );
    let (status, _) = server.post_get("/info").await;
    assert_eq!(status, 401);
    let (status, _) = server.post_get("/health").await;
    assert_eq!(status, 200);
    let response = reqwest::Client::new()
        .post(format!("{}/predict", server.url))
        .bearer_auth("secret")
        .json(&json!({"inputs": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encoder_embeds_as_tei_and_openai() {
    let server = Server::start("tiny-bert-bare", |_| {});
    let text = "an embedded sentence";
    let dir = fixture("tiny-bert-bare");
    let device = Default::default();
    let (model, _) = BertModel::<B>::from_pretrained(&dir, &device).unwrap();
    let tokenizer = BertTokenizer::from_dir(&dir, 32).unwrap();
    let input = BertInput::from_encoded(&[tokenizer.encode(text).unwrap()], 0, &device);
    let mask = input.attention_mask.clone();
    let hidden = model.forward(input, false).unwrap().last_hidden_state;
    let direct: Vec<f32> = mean_pool(hidden, mask).into_data().to_vec().unwrap();

    let (status, raw) = server
        .post("/embed", json!({"inputs": text, "normalize": false}))
        .await;
    assert_eq!(status, 200, "{raw}");
    let raw: Vec<Vec<f32>> = serde_json::from_value(raw).unwrap();
    assert!(close(&raw[0], &direct));
    let (_, unit) = server
        .post("/embed", json!({"inputs": [text, "other"]}))
        .await;
    let unit: Vec<Vec<f32>> = serde_json::from_value(unit).unwrap();
    assert_eq!(unit.len(), 2);
    let norm = unit[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    let (_, cls) = server
        .post("/embed", json!({"inputs": text, "pooling": "cls"}))
        .await;
    assert_ne!(cls[0], json!(unit[0]));

    let (status, openai) = server
        .post(
            "/v1/embeddings",
            json!({"input": [text], "encoding_format": "base64"}),
        )
        .await;
    assert_eq!(status, 200, "{openai}");
    assert_eq!(
        (&openai["object"], &openai["data"][0]["index"]),
        (&json!("list"), &json!(0))
    );
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(openai["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert!(close(&decoded, &unit[0]));
    assert!(openai["usage"]["total_tokens"].as_u64().unwrap() > 2);

    let (status, _) = server.post("/predict", json!({"inputs": text})).await;
    assert_eq!(status, 424);
    let (_, info) = server.post_get("/info").await;
    assert_eq!(info["model_type"]["embedding"]["pooling"], "mean");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tagger_answers_entities_as_tagging_directly() {
    let server = Server::start("tiny-bert-ner", |_| {});
    let dir = fixture("tiny-bert-ner");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let texts: Vec<String> = (reference["cases"].as_array().unwrap().iter())
        .map(|c| c["text"].as_str().unwrap().to_string())
        .collect();
    let device = Default::default();
    let tagger = load_tagger::<B>(&dir, 32, &device).unwrap();
    let cfg = TrainConfig {
        max_len: 32,
        eval_batch_size: 32,
        ..TrainConfig::default()
    };
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let direct = tag_texts(&tagger, &refs, tagger.layout(&cfg).unwrap(), &device).unwrap();
    let inputs: Vec<Value> = texts.iter().map(|t| json!([t])).collect();
    let (status, answers) = server.post("/predict", json!({"inputs": inputs})).await;
    assert_eq!(status, 200, "{answers}");
    for (answer, want) in answers.as_array().unwrap().iter().zip(&direct) {
        let got: Vec<(String, String, u64, u64)> = (answer.as_array().unwrap().iter())
            .map(|e| {
                (
                    e["entity_group"].as_str().unwrap().into(),
                    e["word"].as_str().unwrap().into(),
                    e["start"].as_u64().unwrap(),
                    e["end"].as_u64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, String, u64, u64)> = (want.entities.iter())
            .map(|e| (e.kind.clone(), e.text.clone(), e.start as u64, e.end as u64))
            .collect();
        assert_eq!(got, want);
    }
    let (_, info) = server.post_get("/info").await;
    assert_eq!(info["model_type"]["tagger"]["id2label"]["0"], "O");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokenize_answers_teis_tokens_with_byte_offsets() {
    let server = Server::start("tiny-bert-cls", |_| {});
    // "é" is two bytes: offsets are bytes, as TEI gives them.
    let text = "héllo world";
    let (status, answer) = server.post("/tokenize", json!({"inputs": text})).await;
    assert_eq!(status, 200, "{answer}");
    let tokens = answer[0].as_array().unwrap();
    let tokenizer = BertTokenizer::from_dir(&fixture("tiny-bert-cls"), 32).unwrap();
    let ids: Vec<u64> = tokens.iter().map(|t| t["id"].as_u64().unwrap()).collect();
    let want: Vec<u64> = (tokenizer.encode(text).unwrap().ids.iter())
        .map(|&i| i as u64)
        .collect();
    assert_eq!(ids, want);
    let (first, last) = (&tokens[0], &tokens[tokens.len() - 1]);
    assert_eq!(
        (&first["special"], &first["start"]),
        (&json!(true), &Value::Null)
    );
    assert_eq!(
        (&first["text"], &last["text"]),
        (&json!("[CLS]"), &json!("[SEP]"))
    );
    let before_sep = &tokens[tokens.len() - 2];
    assert_eq!(before_sep["stop"], text.len());
    for t in &tokens[1..tokens.len() - 1] {
        let (a, b) = (t["start"].as_u64().unwrap(), t["stop"].as_u64().unwrap());
        assert_eq!(t["text"], text[a as usize..b as usize]);
    }
    let (_, bare) = server
        .post(
            "/tokenize",
            json!({"inputs": [text, "x"], "add_special_tokens": false}),
        )
        .await;
    assert_eq!(bare.as_array().unwrap().len(), 2);
    assert_eq!(bare[0].as_array().unwrap().len(), tokens.len() - 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_batches_and_tokens() {
    let server = Server::start("tiny-bert-cls", |_| {});
    for _ in 0..3 {
        let (status, _) = server
            .post("/predict", json!({"inputs": [["a b"], ["c"]]}))
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = server.post("/predict", json!({"inputs": []})).await;
    assert_eq!(status, 400);
    let response = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    let value = |name: &str| -> f64 {
        let line = (text.lines())
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"));
        line[name.len()..].trim().parse().unwrap()
    };
    assert_eq!(
        value("attn_requests_total{route=\"/predict\",status=\"200\"}"),
        3.0
    );
    assert_eq!(
        value("attn_requests_total{route=\"/predict\",status=\"400\"}"),
        1.0
    );
    // Every input ran once, and none is left in the queue.
    assert_eq!(value("attn_batch_size_sum"), 6.0);
    assert_eq!(value("attn_queue_size"), 0.0);
    assert!(value("attn_tokens_total") >= 6.0 * 3.0);
    assert_eq!(
        value("attn_request_duration_seconds_count{route=\"/predict\"}"),
        4.0
    );
}
