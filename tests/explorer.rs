//! The attention explorer as a user sees it: `/attend` answers `attn attend --json`'s numbers,
//! and headless Chromium, on the page `attn serve` serves at `/`, types a text, presses Look and
//! finds the model's answer and its attention drawn (BERT's layer x head grid, the RNN's strip,
//! a translator's alignment), labels apart, and a screenshot that is not blank
//! (`target/tmp/explorer-*.png`).

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use common::{
    Server, attn, fixture, json_lines, png_summary, tiny_rnn, tiny_seq2seq_train, write_pairs,
    write_separable_csv,
};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::{Value, json};

/// `POST route` with `body`: the status and the JSON answer.
fn post(server: &Server, route: &str, body: Value) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}{route}", server.url))
        .json(&body)
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

/// `attn attend --json` of `text` under `model` with `flags`.
fn attend_json(home: &Path, model: &Path, flags: &[&str], text: &str) -> Value {
    let out = attn(home)
        .arg("attend")
        .args(flags)
        .arg("--json")
        .arg("--model")
        .arg(model)
        .arg(text)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&out.stdout).remove(0)
}

/// A headless Chromium, or `None` (a skip; a failure under CI) where the machine has none.
fn browser() -> Option<Browser> {
    let path = attn_testing::chromium()?;
    let options = LaunchOptions::default_builder()
        .path(Some(path))
        .headless(true)
        // As root (CI's containers) Chromium refuses to start sandboxed.
        .sandbox(false)
        .window_size(Some((1200, 1400)))
        .idle_browser_timeout(Duration::from_secs(120))
        .args(vec![OsStr::new("--disable-dev-shm-usage")])
        .build()
        .unwrap();
    Some(Browser::new(options).expect("Chromium starts"))
}

/// Opens the explorer of `server`, types `text`, presses Look and waits for the drawing.
fn explore(browser: &Browser, server: &Server, text: &str) -> std::sync::Arc<Tab> {
    let tab = browser.new_tab().unwrap();
    tab.set_default_timeout(Duration::from_secs(60));
    tab.navigate_to(&format!("{}/", server.url)).unwrap();
    tab.wait_for_element("body[data-state=ready]").unwrap();
    tab.wait_for_element("#text").unwrap().click().unwrap();
    tab.type_str(text).unwrap();
    tab.wait_for_element("#run").unwrap().click().unwrap();
    let state = tab
        .wait_for_element("body[data-state=done], body[data-state=error]")
        .unwrap();
    let status = tab
        .find_element("#status")
        .unwrap()
        .get_inner_text()
        .unwrap();
    assert_eq!(
        state.get_attribute_value("data-state").unwrap().as_deref(),
        Some("done"),
        "the page says: {status}"
    );
    tab
}

/// The number of elements `selector` finds.
fn count(tab: &Tab, selector: &str) -> usize {
    tab.find_elements(selector).map_or(0, |found| found.len())
}

/// Whether every label of the matrices on the page is whole (not clipped) and apart from the
/// others: no two row labels or column labels overlap, and none is cut by its box.
fn labels_apart(tab: &Tab) -> bool {
    let script = r#"(() => {
      const apart = (nodes) => nodes.every((a, i) => nodes.slice(i + 1).every((b) => {
        const r = a.getBoundingClientRect(), s = b.getBoundingClientRect();
        return r.right <= s.left + 0.5 || s.right <= r.left + 0.5 ||
               r.bottom <= s.top + 0.5 || s.bottom <= r.top + 0.5;
      }));
      const whole = (n) => n.scrollWidth <= n.clientWidth + 1 && n.scrollHeight <= n.clientHeight + 1;
      return [...document.querySelectorAll('.matrix')].every((m) => {
        const cols = [...m.querySelectorAll('.col')], rows = [...m.querySelectorAll('.rowlabel')];
        return apart(cols) && apart(rows) && [...cols, ...rows].every(whole);
      });
    })()"#;
    tab.evaluate(script, false).unwrap().value == Some(json!(true))
}

/// Saves the page as `target/tmp/explorer-NAME.png` and checks that it is not blank.
fn screenshot(tab: &Tab, name: &str) {
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("explorer-{name}.png"));
    std::fs::write(&path, png).unwrap();
    let (w, h, colours) = png_summary(&path);
    assert!(w >= 800 && h >= 600, "{w}x{h}");
    assert!(
        colours > 50,
        "{}: the page looks blank ({colours} colours)",
        path.display()
    );
}

#[test]
fn a_bert_classifier_shows_its_labels_and_every_layer_and_head() {
    let home = tempfile::tempdir().unwrap();
    let model = fixture("tiny-bert-cls");
    let server = Server::start(home.path(), &model, &["--max-len", "32"]);
    let text = "the market is up and stocks rose";
    let flags = ["--max-len", "32"];

    // The numbers: every head, one head, and the refusals.
    let (status, all) = post(&server, "/attend", json!({"inputs": text}));
    assert_eq!(status, 200, "{all}");
    assert_eq!(all, attend_json(home.path(), &model, &flags, text));
    assert_eq!(
        (
            all["kind"].as_str(),
            all["layers"].as_u64(),
            all["heads"].as_u64()
        ),
        (Some("self_attention"), Some(2), Some(4))
    );
    let tokens = all["tokens"].as_array().unwrap().len();
    for layer in all["attention"].as_array().unwrap() {
        for head in layer.as_array().unwrap() {
            for row in head.as_array().unwrap() {
                let row: Vec<f64> = (row.as_array().unwrap().iter())
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                assert_eq!(row.len(), tokens);
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{row:?}");
            }
        }
    }
    let (status, one) = post(
        &server,
        "/attend",
        json!({"inputs": text, "layer": 1, "head": 2}),
    );
    assert_eq!(status, 200, "{one}");
    let picked = [&flags[..], &["--layer", "1", "--head", "2"]].concat();
    assert_eq!(one, attend_json(home.path(), &model, &picked, text));
    assert_eq!(one["attention"], all["attention"][1][2]);
    for (body, code, says) in [
        (
            json!({"inputs": text, "layer": 2, "head": 0}),
            422,
            "`layer` must be below 2",
        ),
        (json!({"inputs": text, "head": 1}), 422, "go together"),
        (json!({"inputs": ""}), 400, "cannot be empty"),
        (
            json!({"inputs": vec!["word"; 40].join(" ")}),
            422,
            "at most 32",
        ),
    ] {
        let (status, refused) = post(&server, "/attend", body.clone());
        assert_eq!(status, code, "{body}: {refused}");
        assert!(
            refused["error"].as_str().unwrap().contains(says),
            "{refused}"
        );
    }

    // The page.
    let Some(browser) = browser() else { return };
    let tab = explore(&browser, &server, text);
    let (_, labels) = post(&server, "/predict", json!({"inputs": text}));
    let labels = labels.as_array().unwrap().len();
    assert_eq!(
        count(&tab, "#prediction li.label"),
        labels,
        "one line per label"
    );
    assert_eq!(count(&tab, "#grid canvas.thumb"), 2 * 4, "layers x heads");
    assert_eq!(count(&tab, "#full .matrix .col"), tokens);
    tab.find_element("canvas.thumb[data-layer='1'][data-head='2']")
        .unwrap()
        .click()
        .unwrap();
    let caption = tab
        .wait_for_element("#full figcaption")
        .unwrap()
        .get_inner_text()
        .unwrap();
    assert!(caption.starts_with("layer 1, head 2"), "{caption}");
    // Hovering a token highlights its row: what it attends to.
    tab.find_elements("#full .rowlabel").unwrap()[2]
        .move_mouse_over()
        .unwrap();
    assert_eq!(count(&tab, "#full .cell.on"), tokens);
    assert!(labels_apart(&tab));
    screenshot(&tab, "bert");

    // Behind an API key the page opens, asks for the key, and works once it is given.
    let locked = Server::start(
        home.path(),
        &model,
        &["--max-len", "32", "--api-key", "sesame"],
    );
    let tab = browser.new_tab().unwrap();
    tab.navigate_to(&format!("{}/", locked.url)).unwrap();
    tab.wait_for_element("body[data-state=error]").unwrap();
    tab.wait_for_element("#keybox:not([hidden])").unwrap();
    tab.wait_for_element("#key").unwrap().click().unwrap();
    tab.type_str("sesame").unwrap();
    tab.wait_for_element("#text").unwrap().click().unwrap();
    tab.type_str(text).unwrap();
    tab.wait_for_element("#run").unwrap().click().unwrap();
    tab.wait_for_element("body[data-state=done]").unwrap();
    assert_eq!(count(&tab, "#grid canvas.thumb"), 2 * 4);
}

#[test]
fn the_rnn_classifier_shows_its_attention_over_the_words() {
    let home = tempfile::tempdir().unwrap();
    let csv = home.path().join("train.csv");
    write_separable_csv(&csv, 64);
    let run = home.path().join("rnn");
    tiny_rnn(home.path(), &csv, &run).success();
    let server = Server::start(home.path(), &run, &[]);
    let text = "market stocks rose while nasa launched a space probe";

    let (status, served) = post(&server, "/attend", json!({"inputs": text}));
    assert_eq!(status, 200, "{served}");
    assert_eq!(served, attend_json(home.path(), &run, &[], text));
    assert_eq!(served["kind"], "additive");
    let weights: Vec<f64> = (served["attention"].as_array().unwrap().iter())
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(weights.len(), 9);
    assert!(
        (weights.iter().sum::<f64>() - 1.0).abs() < 1e-4,
        "{weights:?}"
    );
    let (status, refused) = post(
        &server,
        "/attend",
        json!({"inputs": text, "layer": 0, "head": 0}),
    );
    assert_eq!(status, 422, "{refused}");

    let Some(browser) = browser() else { return };
    let tab = explore(&browser, &server, text);
    assert_eq!(count(&tab, "#prediction li.label"), 4);
    assert_eq!(count(&tab, "#strip .word"), 9);
    assert_eq!(count(&tab, "#weights .matrix .col"), 9);
    assert!(labels_apart(&tab));
    screenshot(&tab, "rnn");
    // The address now links to the text: opened afresh, the page looks at it by itself.
    let link = tab.get_url();
    assert!(
        link.ends_with(
            "/?text=market%20stocks%20rose%20while%20nasa%20launched%20a%20space%20probe"
        ),
        "{link}"
    );
    let linked = browser.new_tab().unwrap();
    linked.navigate_to(&link).unwrap();
    linked.wait_for_element("body[data-state=done]").unwrap();
    assert_eq!(count(&linked, "#strip .word"), 9);
}

#[test]
fn a_translator_shows_its_translation_and_alignment() {
    let home = tempfile::tempdir().unwrap();
    let pairs = write_pairs(home.path(), 32);
    let run = home.path().join("s2s");
    tiny_seq2seq_train(
        home.path(),
        &pairs,
        &run,
        &["--iterations", "60", "--checkpoint-every", "0"],
    )
    .success();
    let server = Server::start(home.path(), &run, &[]);
    let text = "s1 s2 s3 s4 s5";

    let (status, served) = post(&server, "/attend", json!({"inputs": text}));
    assert_eq!(status, 200, "{served}");
    assert_eq!(served, attend_json(home.path(), &run, &[], text));
    let (status, translated) = post(
        &server,
        "/translate",
        json!({"inputs": text, "alignment": true}),
    );
    assert_eq!(status, 200, "{translated}");
    assert_eq!(served["kind"], "alignment");
    for key in ["translation", "tokens", "source_tokens"] {
        assert_eq!(served[key], translated[key], "{key}");
    }
    // /translate writes the same f32 weights widened to f64.
    let flat = |v: &Value| -> Vec<f64> {
        (v.as_array().unwrap().iter())
            .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect()
    };
    let (a, b) = (flat(&served["attention"]), flat(&translated["alignment"]));
    assert!(a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6));
    let rows = served["tokens"].as_array().unwrap().len() + 1;
    let columns = served["source_tokens"].as_array().unwrap().len();

    let Some(browser) = browser() else { return };
    let tab = explore(&browser, &server, text);
    let shown = tab
        .find_element("#prediction")
        .unwrap()
        .get_inner_text()
        .unwrap();
    assert_eq!(shown, served["translation"].as_str().unwrap());
    assert_eq!(
        count(&tab, "#alignment .matrix .rowlabel"),
        rows,
        "output tokens and <eos>"
    );
    assert_eq!(count(&tab, "#alignment .matrix .col"), columns);
    assert_eq!(count(&tab, "#alignment .matrix .cell"), rows * columns);
    assert!(labels_apart(&tab));
    screenshot(&tab, "translator");
}
