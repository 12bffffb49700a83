//! `attn serve` as a user runs it: it prints where it listens, answers as `attn predict` and
//! `attn translate` do, holds up under a soak of good, bad, abandoned and stalled clients, and a
//! SIGTERM under load stops it with status 0 after answering every request it accepted.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Server, attn, fixture, json_lines, tiny_seq2seq_train, write_pairs};
use serde_json::{Value, json};

/// The counts of the server's last stderr line, `Stopped: answered A of the M requests accepted
/// (L left by their clients), refused R while stopping`: (A, M, L, R).
fn tally(stderr: &str) -> (usize, usize, usize, usize) {
    let line = (stderr.lines().rev())
        .find(|l| l.starts_with("Stopped: "))
        .unwrap_or_else(|| panic!("no tally in {stderr:?}"));
    let n: Vec<usize> = (line.split(|c: char| !c.is_ascii_digit()))
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(n.len(), 4, "{line}");
    (n[0], n[1], n[2], n[3])
}

/// `attn predict`'s label and top probability for each text under the tiny classifier.
fn predicted(home: &Path, texts: &[String]) -> HashMap<String, (String, f64)> {
    let out = attn(home)
        .args(["predict", "--max-len", "32", "--model"])
        .arg(fixture("tiny-bert-cls"))
        .args(texts)
        .output()
        .unwrap();
    assert!(out.status.success());
    (texts.iter().zip(json_lines(&out.stdout)))
        .map(|(text, p)| {
            let top = (p["probs"].as_array().unwrap().iter())
                .map(|p| p.as_f64().unwrap())
                .fold(f64::MIN, f64::max);
            let label = p["label"].as_str().unwrap().to_string();
            (text.clone(), (label, top))
        })
        .collect()
}

/// Whether `served` (one `/predict` answer: labels by score) is `attn predict`'s answer.
fn agrees(served: &Value, expected: &(String, f64)) -> bool {
    let top = &served[0];
    top["label"] == expected.0.as_str()
        && (top["score"].as_f64().unwrap_or(f64::NAN) - expected.1).abs() < 1e-4
}

#[test]
fn attn_serve_answers_as_attn_predict_and_stops_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    let mut server = Server::start(home.path(), &fixture("tiny-bert-cls"), &["--max-len", "32"]);
    let texts = ["the match ended in a draw", "stocks fell sharply"].map(String::from);
    let inputs: Vec<Value> = texts.iter().map(|t| json!([t])).collect();
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/predict", server.url))
        .json(&json!({ "inputs": inputs }))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let served: Value = response.json().unwrap();
    let expected = predicted(home.path(), &texts);
    for (served, text) in served.as_array().unwrap().iter().zip(&texts) {
        assert!(
            agrees(served, &expected[text]),
            "{served} {:?}",
            expected[text]
        );
    }
    let (status, stderr) = server.terminate(Duration::from_secs(60));
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(tally(&stderr), (1, 1, 0, 0), "{stderr}");
}

#[test]
fn a_translator_answers_as_attn_translate_with_its_alignment() {
    let home = tempfile::tempdir().unwrap();
    let pairs = write_pairs(home.path(), 32);
    let run = home.path().join("s2s");
    let flags = ["--iterations", "60", "--checkpoint-every", "0"];
    tiny_seq2seq_train(
        home.path(),
        &pairs,
        &run,
        &[&flags[..], &["--max-len", "12"]].concat(),
    )
    .success();
    let mut server = Server::start(home.path(), &run, &[]);
    let client = reqwest::blocking::Client::new();
    let post = |route: &str, body: Value| {
        let response = (client.post(format!("{}{route}", server.url)))
            .json(&body)
            .send()
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().unwrap(),
        )
    };
    let texts = ["s1 s2 s3 s4", "S5 s6, s7!"];
    for beam in ["1", "3"] {
        let out = attn(home.path())
            .args(["translate", "--beam", beam, "--model"])
            .arg(&run)
            .args(texts)
            .output()
            .unwrap();
        assert!(out.status.success());
        let beam_width: usize = beam.parse().unwrap();
        let body = json!({"inputs": texts, "alignment": true, "beam": beam_width});
        let (status, served) = post("/translate", body);
        assert_eq!(status, 200, "{served}");
        for (served, line) in served
            .as_array()
            .unwrap()
            .iter()
            .zip(json_lines(&out.stdout))
        {
            for key in ["translation", "tokens", "source_tokens"] {
                assert_eq!(served[key], line[key], "beam {beam}: {key}");
            }
            let flat = |v: &Value| -> Vec<f64> {
                (v.as_array().unwrap().iter())
                    .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
                    .collect()
            };
            let (a, b) = (flat(&served["alignment"]), flat(&line["alignment"]));
            assert!(!a.is_empty() && a.len() == b.len(), "beam {beam}");
            assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5));
        }
    }
    // One text: one answer, without the alignment unless asked.
    let (status, one) = post("/translate", json!({"inputs": texts[0]}));
    assert_eq!(status, 200);
    assert!(
        one["translation"].is_string() && one.get("alignment").is_none(),
        "{one}"
    );
    // Longer than the translator reads (--max-len 12): refused unless truncated.
    let long = vec!["s1"; 20].join(" ");
    let (status, refused) = post("/translate", json!({"inputs": long}));
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("at most 12"),
        "{refused}"
    );
    let (status, cut) = post("/translate", json!({"inputs": long, "truncate": true}));
    assert_eq!(status, 200);
    assert_eq!(cut["source_tokens"].as_array().unwrap().len(), 12);
    let (status, wide) = post("/translate", json!({"inputs": "s1", "beam": 17}));
    assert_eq!(
        (status, wide["error_type"].as_str()),
        (422, Some("Validation"))
    );
    let (status, wrong) = post("/predict", json!({"inputs": "s1"}));
    assert_eq!(
        (status, wrong["error_type"].as_str()),
        (424, Some("Backend"))
    );
    let (status, stderr) = server.terminate(Duration::from_secs(60));
    assert!(status.success(), "{status}: {stderr}");
}

/// The bearer key of the soaked server.
const KEY: &str = "soak-key";

/// A bad request the soak sends, and the status it must get.
struct Bad {
    route: &'static str,
    content_type: &'static str,
    key: bool,
    body: Vec<u8>,
    status: u16,
}

/// The soak's bad requests, one of each kind the server must refuse.
fn bad_requests() -> Vec<Bad> {
    let bad = |route, content_type, key, body: &[u8], status| Bad {
        route,
        content_type,
        key,
        body: body.to_vec(),
        status,
    };
    let json = "application/json";
    let big = serde_json::to_vec(&json!({"inputs": "word ".repeat(2000)})).unwrap();
    let long = serde_json::to_vec(&json!({"inputs": "word ".repeat(100)})).unwrap();
    let many = serde_json::to_vec(&json!({"inputs": [["a"], ["b"], ["c"], ["d"], ["e"]]})).unwrap();
    vec![
        bad("/predict", json, true, b"{\"inputs\": ", 400),
        bad("/predict", json, true, b"{\"inputs\": 5}", 422),
        bad("/predict", json, true, b"{\"inputs\": []}", 400),
        bad("/predict", json, true, b"{\"inputs\": \"\xff\xfe\"}", 400),
        bad("/predict", json, true, &big, 413),
        bad("/predict", json, true, &many, 422),
        bad("/predict", json, true, &long, 422),
        bad("/predict", json, false, b"{\"inputs\": \"a\"}", 401),
        bad("/predict", "text/plain", true, b"{\"inputs\": \"a\"}", 415),
        bad("/nowhere", json, true, b"{\"inputs\": \"a\"}", 404),
        bad("/embed", json, true, b"{\"inputs\": \"a\"}", 424),
    ]
}

/// What the soak's clients saw.
#[derive(Default)]
struct Seen {
    good: usize,
    bad: usize,
    left: usize,
    failures: Vec<String>,
}

/// Sends `n` requests from `clients` at once: one in 20 bad (each kind in turn), one in 100 a
/// client that leaves before its answer, the rest good (one text, or a batch of up to 4); each
/// answer checked. `sample` is called with k as the k-th hundredth of them starts.
async fn soak(
    url: &str,
    n: usize,
    clients: usize,
    texts: &[String],
    expected: &HashMap<String, (String, f64)>,
    sample: impl Fn(usize) + Send + Sync,
) -> Seen {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let bads = bad_requests();
    let next = AtomicUsize::new(0);
    let one_client = || async {
        let mut seen = Seen::default();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return seen;
            }
            if i.is_multiple_of((n / 100).max(1)) {
                sample(i / (n / 100).max(1));
            }
            if i % 20 == 7 {
                let bad = &bads[(i / 20) % bads.len()];
                let mut request = (client.post(format!("{url}{}", bad.route)))
                    .header("content-type", bad.content_type)
                    .body(bad.body.clone());
                if bad.key {
                    request = request.bearer_auth(KEY);
                }
                match request.send().await {
                    Ok(r) if r.status().as_u16() == bad.status => {
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        match body["error"].is_string() && body["error_type"].is_string() {
                            true => seen.bad += 1,
                            false => seen.failures.push(format!("{}: {body}", bad.status)),
                        }
                    }
                    Ok(r) => seen.failures.push(format!(
                        "bad request {}: {} for {}",
                        (i / 20) % bads.len(),
                        r.status(),
                        bad.status
                    )),
                    Err(e) => seen.failures.push(format!("bad request: {e}")),
                }
                continue;
            }
            let single = i.is_multiple_of(3);
            let inputs = if single { 1 } else { 1 + (i / 7) % 4 };
            let batch: Vec<&String> = (0..inputs)
                .map(|k| &texts[(i * 31 + k * 7) % texts.len()])
                .collect();
            let body = match single {
                true => json!({"inputs": batch[0]}),
                false => json!({"inputs": batch.iter().map(|t| json!([t])).collect::<Vec<_>>()}),
            };
            let request = (client.post(format!("{url}/predict")))
                .bearer_auth(KEY)
                .json(&body);
            if i % 100 == 3 {
                // A client that gives up at once: its work is dropped, nothing else changes.
                let _ = request.timeout(Duration::from_micros(200)).send().await;
                seen.left += 1;
                continue;
            }
            let answer = match request.send().await {
                Ok(r) if r.status().as_u16() == 200 => r.json::<Value>().await.ok(),
                Ok(r) => {
                    seen.failures.push(format!("good request: {}", r.status()));
                    continue;
                }
                Err(e) => {
                    seen.failures.push(format!("good request: {e}"));
                    continue;
                }
            };
            let answer = answer.unwrap_or(Value::Null);
            let answers: Vec<&Value> = match single {
                true => vec![&answer],
                false => answer
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default(),
            };
            let right = answers.len() == batch.len()
                && (answers.iter().zip(&batch)).all(|(a, t)| agrees(a, &expected[*t]));
            match right {
                true => seen.good += 1,
                false => seen
                    .failures
                    .push(format!("wrong answer {answer} for {batch:?}")),
            }
        }
    };
    let all = futures::future::join_all((0..clients).map(|_| one_client())).await;
    let mut total = Seen::default();
    for seen in all {
        total.good += seen.good;
        total.bad += seen.bad;
        total.left += seen.left;
        total.failures.extend(seen.failures);
    }
    total
}

/// Forty short texts of the tiny model's words.
fn soak_texts() -> Vec<String> {
    let words = [
        "the", "match", "stocks", "fell", "team", "won", "market", "rose",
    ];
    (0..40)
        .map(|i| {
            (0..3 + i % 5)
                .map(|k| words[(i * 3 + k * 5) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The middle value of `values` (the mean of the two middle ones for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let m = sorted.len() / 2;
    match sorted.len() % 2 {
        0 => (sorted[m - 1] + sorted[m]) / 2.0,
        _ => sorted[m],
    }
}

/// A client that connects and stalls: mid-headers, or with its headers sent and half its body.
fn stall(addr: &str, in_body: bool) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n";
    let text = match in_body {
        true => {
            format!("{head}authorization: Bearer {KEY}\r\ncontent-length: 40\r\n\r\n{{\"inputs\"")
        }
        false => head.to_string(),
    };
    stream.write_all(text.as_bytes()).unwrap();
    stream
}

#[test]
fn a_soak_answers_every_good_request_refuses_every_bad_one_and_outlives_stalled_clients() {
    // `ATTN_SOAK_REQUESTS` shortens (or lengthens) the soak; the is 20,000. As many go
    // first as the warm-up: the allocator's heaps take that long to reach their working size.
    let n: usize = std::env::var("ATTN_SOAK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let home = tempfile::tempdir().unwrap();
    let texts = soak_texts();
    let expected = predicted(home.path(), &texts);
    let flags = [
        "--max-len",
        "32",
        "--max-client-batch-size",
        "4",
        "--payload-limit",
        "8192",
        "--api-key",
        KEY,
        "--request-timeout",
        "10",
        // 256 clients of up to 4 inputs each: the queue's limit (429) is not what is soaked.
        "--max-concurrent-requests",
        "2048",
    ];
    let mut server = Server::start(home.path(), &fixture("tiny-bert-cls"), &flags);
    let stalled: Vec<TcpStream> = (0..200).map(|i| stall(server.addr(), i % 2 == 1)).collect();
    let rss: Vec<AtomicUsize> = (0..101).map(|_| AtomicUsize::new(0)).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let seen = runtime.block_on(soak(&server.url, 2 * n, 256, &texts, &expected, |k| {
        rss[k].store(server.rss_kib() as usize, Ordering::Relaxed)
    }));
    let seconds = started.elapsed().as_secs_f64();
    rss[100].store(server.rss_kib() as usize, Ordering::Relaxed);
    let rss: Vec<f64> = rss
        .iter()
        .map(|r| r.load(Ordering::Relaxed) as f64)
        .collect();
    let mib: Vec<String> = (rss.iter().step_by(5))
        .map(|kib| format!("{:.0}", kib / 1024.0))
        .collect();
    // One reading of a server under load swings by a tenth with what is in flight at that
    // instant; a leak moves the middle of many. Warm: the median around the warm-up's end; at the
    // end: over the soak's last fifth.
    let (warm, end) = (median(&rss[45..55]), median(&rss[90..]));
    eprintln!(
        "soak: {n} requests after {n} of warm-up in {seconds:.1} s ({:.0}/s): {} good, {} bad, {} \
         left; RSS by twentieths {} MiB, median {:.0} MiB warm, {:.0} MiB at the end",
        2.0 * n as f64 / seconds,
        seen.good,
        seen.bad,
        seen.left,
        mib.join(" "),
        warm / 1024.0,
        end / 1024.0
    );
    if std::env::var_os("SHOW_RSS").is_some() {
        eprintln!(
            "{:?}",
            rss.iter().map(|k| (k / 1024.0) as u32).collect::<Vec<_>>()
        );
    }
    assert!(
        seen.failures.is_empty(),
        "{:#?}",
        &seen.failures[..seen.failures.len().min(20)]
    );
    assert_eq!(seen.good + seen.bad + seen.left, 2 * n);
    assert!(
        end < warm * 1.10,
        "RSS grew from a median {warm} to {end} KiB after warm-up"
    );

    // Those stalled in their body get 408 once --request-timeout has passed; those stalled in
    // their headers are still waiting, and the server answers on.
    for (i, mut stream) in stalled.into_iter().enumerate() {
        if i % 2 == 1 {
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut first = [0u8; 12];
            stream.read_exact(&mut first).unwrap();
            assert_eq!(
                &first,
                b"HTTP/1.1 408",
                "{}",
                String::from_utf8_lossy(&first)
            );
        }
    }
    let health = reqwest::blocking::get(format!("{}/health", server.url)).unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let (status, stderr) = server.terminate(Duration::from_secs(60));
    assert!(status.success(), "{status}: {stderr}");
}

#[test]
fn a_sigterm_under_load_answers_every_accepted_request_then_exits_0() {
    let home = tempfile::tempdir().unwrap();
    let texts = soak_texts();
    let expected = predicted(home.path(), &texts);
    let mut server = Server::start(home.path(), &fixture("tiny-bert-cls"), &["--max-len", "32"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = server.url.clone();
    // 64 clients send until the server stops answering; each counts its answers.
    let load = runtime.spawn(async move {
        let client = reqwest::Client::new();
        let answered = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let wrong = Arc::new(std::sync::Mutex::new(Vec::new()));
        let clients: Vec<_> = (0..64)
            .map(|c| {
                let (client, url, expected) = (client.clone(), url.clone(), expected.clone());
                let (answered, refused, wrong) = (answered.clone(), refused.clone(), wrong.clone());
                let texts = texts.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let text = &texts[(c * 7 + i) % texts.len()];
                        let sent = client
                            .post(format!("{url}/predict"))
                            .json(&json!({ "inputs": text }))
                            .send()
                            .await;
                        // A connection refused or closed before an answer: not accepted.
                        let Ok(response) = sent else { return };
                        let status = response.status().as_u16();
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        match status {
                            200 if agrees(&body, &expected[text]) => {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            503 => {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => wrong.lock().unwrap().push(format!("{status}: {body}")),
                        }
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        let wrong = wrong.lock().unwrap().clone();
        (
            answered.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed),
            wrong,
        )
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (status, stderr) = server.terminate(Duration::from_secs(60));
    let (answered, refused, wrong) = runtime.block_on(load).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(wrong.is_empty(), "{wrong:?}");
    let (served, accepted, left, turned_away) = tally(&stderr);
    assert!(answered > 64, "the load ran ({answered} answers)");
    assert_eq!(
        (served, accepted, left, turned_away),
        (answered, answered, 0, refused),
        "every accepted request answered and received: {stderr}"
    );
}
