//! `cargo xtask load-test`: `POST /predict` under load, one AG News test text a request, from
//! N clients at once for a fixed time; `attn serve` and the Python way to serve the same model
//! (`scripts/serve_pytorch.py`: FastAPI + uvicorn + HF's pipeline), and TEI where it was built,
//! one after the other at each concurrency; texts/s and p50/p99 latency beside `attn bench infer`'s offline throughput,
//! written into docs/results.md.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::compare::write_results;
use crate::vs_pytorch::json_line;

/// What one server did at one concurrency.
struct Load {
    texts_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: usize,
}

/// A server process, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nobody listens on now.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `cmd` (a server on `port`) and waits until its `/health` answers.
fn start(mut cmd: Command, port: u16) -> Result<Server> {
    let shown = format!("{cmd:?}");
    let server =
        Server((cmd.stdout(Stdio::null()).spawn()).with_context(|| format!("starting {shown}"))?);
    let runtime = tokio::runtime::Runtime::new()?;
    let deadline = Instant::now() + Duration::from_secs(180);
    let health = format!("http://127.0.0.1:{port}/health");
    loop {
        let up = runtime.block_on(async { reqwest::get(&health).await.ok() });
        if up.is_some_and(|r| r.status().is_success()) {
            return Ok(server);
        }
        ensure!(Instant::now() < deadline, "{shown} never answered {health}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `concurrency` clients, each sending the next text as soon as its last is answered, for
/// `seconds` (after one request each to warm up).
fn hammer(port: u16, texts: &Arc<Vec<String>>, concurrency: usize, seconds: f64) -> Result<Load> {
    let runtime = tokio::runtime::Runtime::new()?;
    let url = format!("http://127.0.0.1:{port}/predict");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .timeout(Duration::from_secs(120))
            .build()?;
        let next = Arc::new(AtomicUsize::new(0));
        let send = |client: reqwest::Client, text: String, url: String| async move {
            let response = client
                .post(url)
                .json(&json!({ "inputs": text }))
                .send()
                .await;
            match response {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            }
        };
        for text in texts.iter().take(concurrency) {
            send(client.clone(), text.clone(), url.clone()).await;
        }
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(seconds);
        let clients: Vec<_> = (0..concurrency)
            .map(|_| {
                let (client, url, texts, next) =
                    (client.clone(), url.clone(), texts.clone(), next.clone());
                tokio::spawn(async move {
                    let (mut times, mut failed) = (Vec::new(), 0);
                    while Instant::now() < deadline {
                        let text =
                            texts[next.fetch_add(1, Ordering::Relaxed) % texts.len()].clone();
                        let sent = Instant::now();
                        if send(client.clone(), text, url.clone()).await {
                            times.push(sent.elapsed().as_secs_f64() * 1e3);
                        } else {
                            failed += 1;
                        }
                    }
                    (times, failed)
                })
            })
            .collect();
        let (mut times, mut failed) = (Vec::new(), 0);
        for client in clients {
            let (t, f) = client.await?;
            times.extend(t);
            failed += f;
        }
        let elapsed = start.elapsed().as_secs_f64();
        times.sort_by(f64::total_cmp);
        let at =
            |q: f64| times.get(((times.len() as f64 * q) as usize).min(times.len().max(1) - 1));
        Ok(Load {
            texts_per_s: times.len() as f64 / elapsed,
            p50_ms: at(0.5).copied().unwrap_or(f64::NAN),
            p99_ms: at(0.99).copied().unwrap_or(f64::NAN),
            failed,
        })
    })
}

/// The texts of AG News' test.csv in `dir` (title and description, as `attn` reads them).
fn texts(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join("test.csv");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&path)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut texts = Vec::new();
    for row in reader.records() {
        let row = row.with_context(|| format!("reading {}", path.display()))?;
        texts.push(row.iter().skip(1).collect::<Vec<_>>().join(" "));
    }
    ensure!(!texts.is_empty(), "{}: no rows", path.display());
    Ok(texts)
}

/// The servers to compare: `attn serve`, the Python server, and TEI where it was built.
pub struct Servers {
    /// The `attn` binary.
    pub attn: String,
    /// The Python interpreter with fastapi, uvicorn, torch and transformers.
    pub python: String,
    /// TEI's `text-embeddings-router`, if any.
    pub tei: Option<PathBuf>,
}

/// How a server is started: the command that serves a model on a port.
type Starter<'a> = Box<dyn Fn(&str, u16) -> Command + 'a>;

impl Servers {
    /// Each server's name (`attn` first) and how it serves `model` on `port`, texts over the
    /// model's length cut rather than refused.
    fn sides(&self) -> Vec<(&'static str, Starter<'_>)> {
        let mut sides: Vec<(&'static str, Starter<'_>)> = vec![
            (
                "attn",
                Box::new(|model, port| {
                    let mut cmd = Command::new(&self.attn);
                    cmd.args(["serve", "--model", model, "--auto-truncate", "--port"])
                        .arg(port.to_string());
                    cmd
                }),
            ),
            (
                "Python",
                Box::new(|model, port| {
                    let mut cmd = Command::new(&self.python);
                    cmd.args(["scripts/serve_pytorch.py", "--model", model, "--port"])
                        .arg(port.to_string());
                    cmd
                }),
            ),
        ];
        if let Some(tei) = &self.tei {
            sides.push((
                "TEI",
                Box::new(move |model, port| {
                    let mut cmd = Command::new(tei);
                    cmd.args(["--model-id", model, "--hostname", "127.0.0.1"])
                        .args(["--auto-truncate", "--port"])
                        .arg(port.to_string());
                    cmd
                }),
            ));
        }
        sides
    }
}

/// Runs the load test of `model` (trained with `--pooling cls`, HF's own class, when missing)
/// at each of `concurrency` for `seconds`, the servers one after the other.
pub fn run(
    servers: &Servers,
    model: &Path,
    data: &Path,
    concurrency: &[usize],
    seconds: f64,
) -> Result<()> {
    let attn = servers.attn.as_str();
    let data_dir = data.display().to_string();
    if !model.join("config.json").is_file() {
        eprintln!("training {} to serve", model.display());
        let status = Command::new(attn)
            .args(["train", "bert", "--iterations", "100", "--pooling", "cls"])
            .args(["--data-dir", &data_dir, "--output"])
            .arg(model)
            .status()?;
        ensure!(status.success(), "attn train bert failed: {status}");
    }
    let texts = Arc::new(texts(data)?);
    let model_arg = model.display().to_string();
    let offline = |batch: &str| {
        json_line(
            Command::new(attn)
                .args(["bench", "infer", "--model", &model_arg])
                .args(["--batch", batch, "--steps", "30", "--data-dir", &data_dir]),
        )
    };
    let (batch32, batch1) = (offline("32")?, offline("1")?);
    let sides = servers.sides();
    let names: Vec<&str> = sides.iter().map(|(name, _)| *name).collect();
    let mut rows = Vec::new();
    for &c in concurrency {
        let mut loads = Vec::new();
        for (name, serve) in &sides {
            let port = free_port()?;
            let mut cmd = serve(&model_arg, port);
            cmd.stderr(Stdio::inherit());
            let server = start(cmd, port)?;
            let load = hammer(port, &texts, c, seconds)?;
            drop(server);
            eprintln!(
                "{name} at {c}: {:.1} texts/s, p50 {:.1} ms, p99 {:.1} ms, {} failed",
                load.texts_per_s, load.p50_ms, load.p99_ms, load.failed
            );
            if load.failed > 0 {
                bail!("{name} failed {} requests at concurrency {c}", load.failed);
            }
            loads.push(load);
        }
        rows.push((c, loads));
    }
    let anchors = &names[1..];
    let mut body = format!(
        "Measured by `cargo xtask load-test --concurrency {}{} --seconds {seconds}` (`POST \
         /predict`, one AG News test text a request, each client sending its next as soon as the \
         last is answered; `attn serve --auto-truncate` (texts over 128 pieces cut, as the \
         pipeline's `truncation=True` does) and `scripts/serve_pytorch.py` — FastAPI + uvicorn + \
         HF's `pipeline`, torch on 2 threads{} — on the same model `{}`, one after the other at \
         each concurrency).\n\n| clients | {} | {} | attn p50 / p99 ms | {} |\n|{}\n",
        concurrency
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
        if servers.tei.is_some() {
            " --tei …"
        } else {
            ""
        },
        if servers.tei.is_some() {
            "; and TEI's `text-embeddings-router --auto-truncate` (its candle CPU backend; \
             it cuts at the model's 512 positions)"
        } else {
            ""
        },
        model.display(),
        names
            .iter()
            .map(|n| format!("{n} texts/s"))
            .collect::<Vec<_>>()
            .join(" | "),
        anchors
            .iter()
            .map(|n| format!("attn / {n}"))
            .collect::<Vec<_>>()
            .join(" | "),
        anchors
            .iter()
            .map(|n| format!("{n} p50 / p99 ms"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(3 + 3 * anchors.len()),
    );
    for (c, loads) in &rows {
        let attn = &loads[0];
        let cells =
            |f: &dyn Fn(&Load) -> String| loads[1..].iter().map(f).collect::<Vec<_>>().join(" | ");
        body += &format!(
            "| {c} | **{:.1}** | {} | {} | {:.1} / {:.1} | {} |\n",
            attn.texts_per_s,
            cells(&|l| format!("{:.1}", l.texts_per_s)),
            cells(&|l| format!("{:.2}x", attn.texts_per_s / l.texts_per_s)),
            attn.p50_ms,
            attn.p99_ms,
            cells(&|l| format!("{:.1} / {:.1}", l.p50_ms, l.p99_ms)),
        );
    }
    let field = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    body += &format!(
        "\nOffline, the same model (`attn bench infer --batch 32`, AG News train rows): {:.1} texts/s; \
         `--batch 1`: a step of {:.1} ms.\n",
        field(&batch32, "samples_per_s"),
        field(&batch1, "median_step_s") * 1e3
    );
    println!("{body}");
    write_results("load-test", "Serving under load", &body)
}

/// AG News beside the checkout, or `$AG_NEWS_DIR`.
pub fn ag_news(root: &Path) -> PathBuf {
    std::env::var_os("AG_NEWS_DIR")
        .map_or_else(|| root.join("../shared/data/ag_news"), PathBuf::from)
}
