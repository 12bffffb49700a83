//! The GPU code path on wgpu, checked against the Flex CPU backend: device selection, HF parity,
//! one fine-tune step's loss and gradients, the RNN's forward and backward, mixed precision, and a
//! short run that learns, is killed and resumes.
//!
//! Runs on any wgpu adapter; without a GPU, on Mesa's lavapipe (a software Vulkan device: the
//! Debian package `mesa-vulkan-drivers`, with `XDG_RUNTIME_DIR` set), which `.ci/run` installs.
//! Built only with the `wgpu` feature: `cargo test -p attn-cli --features wgpu --test gpu`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use attn_backend::DeviceChoice;
use attn_backend::adapters::{adapters, wgpu_device};
use attn_rnn::RnnConfig;
use attn_transformer::{BertConfig, BertForSequenceClassification, BertInput, Pooling, Precision};
use burn::backend::wgpu::WgpuDevice;
use burn::backend::{Autodiff, Flex, Wgpu};
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Int, Tensor, TensorData};
use common::{TINY_SETTINGS, attn, fixture, json_lines, tiny_bert_on, write_separable_csv};
use predicates::str::contains;

type F = Autodiff<Flex>;
type W = Autodiff<Wgpu>;

/// wgpu's default device, or a skip (a failure under CI) where the machine has no adapter.
fn gpu() -> Option<WgpuDevice> {
    // This process's kernels and autotune results go under the build's target directory, not
    // beside the crate's manifest (CubeCL's default).
    attn_backend::use_kernel_caches(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("cubecl"));
    let found = adapters();
    let device = wgpu_device(DeviceChoice::Auto, &found).ok();
    attn_testing::require(
        device,
        "a wgpu adapter (without a GPU: Mesa's lavapipe, Debian package mesa-vulkan-drivers, \
         and XDG_RUNTIME_DIR set)",
    )
}

fn floats<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "element counts differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The gradient of every float parameter, in the module tree's order (empty: none).
struct Gradients<'a, B: AutodiffBackend> {
    grads: &'a B::Gradients,
    found: Vec<Vec<f32>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Gradients<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let grad = param.val().grad(self.grads).map(floats).unwrap_or_default();
        self.found.push(grad);
    }
}

fn gradients<B: AutodiffBackend, M: Module<B>>(model: &M, grads: &B::Gradients) -> Vec<Vec<f32>> {
    let mut visitor = Gradients {
        grads,
        found: vec![],
    };
    model.visit(&mut visitor);
    visitor.found
}

/// Loss and gradients agree parameter by parameter within `tol`.
fn assert_same_step(what: &str, flex: (f32, Vec<Vec<f32>>), gpu: (f32, Vec<Vec<f32>>), tol: f32) {
    assert!(
        (flex.0 - gpu.0).abs() <= tol,
        "{what} loss {} vs {}",
        flex.0,
        gpu.0
    );
    assert_eq!(flex.1.len(), gpu.1.len());
    let with_grads = flex.1.iter().filter(|g| !g.is_empty()).count();
    assert!(
        with_grads > 4,
        "{what}: only {with_grads} parameters have gradients"
    );
    for (i, (a, b)) in flex.1.iter().zip(&gpu.1).enumerate() {
        let diff = max_diff(a, b);
        assert!(
            diff <= tol,
            "{what} parameter {i}: gradient max abs diff {diff} > {tol}"
        );
    }
}

/// The tiny fixture's reference input (HF's tokens of two texts).
fn tiny_input<B: Backend>(device: &B::Device) -> (BertInput<B>, Vec<f32>) {
    let text = std::fs::read_to_string(fixture("tiny_outputs.json")).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let shape = [
        r["shape"][0].as_u64().unwrap() as usize,
        r["shape"][1].as_u64().unwrap() as usize,
    ];
    let ints = |key: &str| {
        let v: Vec<i64> = r[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        Tensor::<B, 2, Int>::from_data(TensorData::new(v, shape), device)
    };
    let logits = r["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32);
    let input = BertInput {
        input_ids: ints("input_ids"),
        attention_mask: ints("attention_mask"),
        token_type_ids: ints("token_type_ids"),
    };
    (input, logits.collect())
}

/// The tiny fixture classifier without dropout (so both backends compute the same function).
fn tiny_classifier<B: Backend>(device: &B::Device) -> BertForSequenceClassification<B> {
    let dir = fixture("tiny-bert-cls");
    let mut config = BertConfig::from_file(&dir.join("config.json")).unwrap();
    config.hidden_dropout_prob = 0.0;
    config.attention_probs_dropout_prob = 0.0;
    BertForSequenceClassification::from_pretrained_with(&dir, config, None, Pooling::Cls, device)
        .unwrap()
        .0
}

/// One training step of the tiny classifier on the fixture's input: its logits, loss and gradients.
fn bert_step<B: AutodiffBackend>(device: &B::Device) -> (Vec<f32>, f32, Vec<Vec<f32>>) {
    let model = tiny_classifier::<B>(device);
    let (input, _) = tiny_input::<B>(device);
    let rows = input.input_ids.dims()[0];
    let labels: Vec<i64> = (0..rows as i64).map(|i| i % 3).collect();
    let labels = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [rows]), device);
    let logits = model.forward(input).unwrap();
    let loss = CrossEntropyLossConfig::new()
        .init(device)
        .forward(logits.clone(), labels);
    let value = floats(loss.clone())[0];
    let grads = loss.backward();
    (floats(logits), value, gradients(&model, &grads))
}

#[test]
fn the_tiny_fixture_matches_hf_and_one_fine_tune_step_equals_flex() {
    let Some(device) = gpu() else { return };
    let (_, hf_logits) = tiny_input::<Wgpu>(&device);
    let (flex_logits, flex_loss, flex_grads) = bert_step::<F>(&Default::default());
    let (gpu_logits, gpu_loss, gpu_grads) = bert_step::<W>(&device);
    let diff = max_diff(&gpu_logits, &hf_logits);
    assert!(diff <= 1e-4, "logits max abs diff to HF {diff}");
    assert!(max_diff(&gpu_logits, &flex_logits) <= 1e-4);
    assert_same_step("BERT", (flex_loss, flex_grads), (gpu_loss, gpu_grads), 1e-4);
}

#[test]
fn mixed_precision_products_run_on_wgpu_where_the_adapter_has_f16() {
    let Some(device) = gpu() else { return };
    if !<Wgpu as Backend>::supports_dtype(&device, DType::F16) {
        let adapter = adapters()
            .first()
            .map(|a| a.name.clone())
            .unwrap_or_default();
        eprintln!("SKIPPED (hardware): adapter {adapter} has no f16 shaders");
        return;
    }
    // The model's product (`attn_transformer::linear`) on one layer: f32, then f16 under autocast.
    fn products<B: Backend>(device: &B::Device) -> [Vec<f32>; 2] {
        let layer = burn::nn::LinearConfig::new(32, 16).init::<B>(device);
        let x = Tensor::<B, 2>::from_data(
            TensorData::new(
                (0..8 * 32)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                    .collect(),
                [8, 32],
            ),
            device,
        );
        let full = floats(attn_transformer::linear(&layer, x.clone()));
        let _f16 = attn_transformer::autocast(Precision::F16);
        [full, floats(attn_transformer::linear(&layer, x))]
    }
    let [full, half] = products::<Wgpu>(&device);
    // f16 products over f32 weights: the same up to f16's rounding, yet not the same.
    let diff = max_diff(&full, &half);
    assert!(
        diff > 0.0 && diff < 2e-2,
        "f16 vs f32 products: max abs diff {diff}"
    );
}

#[test]
fn the_rnn_baseline_forward_and_backward_equal_flex() {
    let Some(device) = gpu() else { return };
    let config = RnnConfig {
        cell: Default::default(),
        vocab_size: 50,
        embed_dim: 16,
        hidden: 12,
        attention_dim: 10,
        dropout: 0.0,
        num_classes: 4,
    };
    // The same weights on both, through burn's serialized record (a fresh model's parameters
    // are drawn lazily: a clone would draw its own).
    let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
    let bytes = recorder
        .record(config.init::<F>(&Default::default()).into_record(), ())
        .unwrap();
    let flex_record = recorder.load(bytes.clone(), &Default::default()).unwrap();
    let flex_model = config
        .init::<F>(&Default::default())
        .load_record(flex_record);
    let gpu_model = config
        .init::<W>(&device)
        .load_record(recorder.load(bytes, &device).unwrap());
    let lengths = [7, 4, 1];
    let ids: Vec<i64> = (0..21)
        .map(|i| {
            if i % 7 < lengths[i / 7] {
                1 + (i as i64 * 5) % 49
            } else {
                0
            }
        })
        .collect();
    fn step<B: AutodiffBackend>(
        model: &attn_rnn::RnnAttentionClassifier<B>,
        ids: &[i64],
        lengths: &[usize],
        device: &B::Device,
    ) -> (f32, Vec<Vec<f32>>, Vec<f32>) {
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.to_vec(), [3, 7]), device);
        let out = model.forward(input, lengths);
        let labels = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![0i64, 2, 3], [3]), device);
        let weights = floats(out.weights.clone());
        let loss = CrossEntropyLossConfig::new()
            .init(device)
            .forward(out.logits, labels);
        let value = floats(loss.clone())[0];
        let grads = loss.backward();
        (value, gradients(model, &grads), weights)
    }
    let (flex_loss, flex_grads, flex_weights) =
        step(&flex_model, &ids, &lengths, &Default::default());
    let (gpu_loss, gpu_grads, gpu_weights) = step(&gpu_model, &ids, &lengths, &device);
    let diff = max_diff(&flex_weights, &gpu_weights);
    assert!(
        diff <= 1e-5,
        "attention weights differ by {diff}: {flex_weights:?} vs {gpu_weights:?}"
    );
    assert_same_step("RNN", (flex_loss, flex_grads), (gpu_loss, gpu_grads), 1e-4);
}

#[test]
fn a_second_run_compiles_no_kernel_on_a_vulkan_adapter() {
    let Some(_) = gpu() else { return };
    if !adapters().iter().any(|a| a.driver.starts_with("Vulkan")) {
        eprintln!("skipped: no Vulkan adapter (CubeCL keeps compiled kernels only as SPIR-V)");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let compiled = |label: &str| {
        let log = home.path().join(format!("{label}.log"));
        attn(home.path())
            .env("CUBECL_DEBUG_LOG", &log)
            .args(["--backend", "wgpu", "embed", "--model"])
            .arg(fixture("tiny-bert-bare"))
            .arg("a short text")
            .assert()
            .success();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.matches("[START_KERNEL_COMPILATION]").count()
    };
    let first = compiled("first");
    assert!(first > 0, "the first run logged no compilation");
    assert_eq!(
        compiled("second"),
        0,
        "the second run compiled kernels again"
    );
}

#[test]
fn backends_lists_the_adapters_and_a_missing_one_is_one_error_line() {
    let Some(_) = gpu() else { return };
    let home = tempfile::tempdir().unwrap();
    let listed = attn(home.path())
        .args(["--backend", "wgpu", "backends"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&listed.get_output().stdout).to_string();
    let first = &adapters()[0];
    assert!(
        stdout.contains(&format!("--device 0 (or {}", first.kind.name())),
        "{stdout}"
    );
    assert!(stdout.contains(&first.name), "{stdout}");
    assert!(
        stdout.contains("device auto DefaultDevice: ok (1 + 2 = 3)"),
        "{stdout}"
    );
    let missing = attn(home.path())
        .args([
            "--backend",
            "wgpu",
            "--device",
            "virtual:7",
            "embed",
            "--model",
        ])
        .arg(fixture("tiny-bert-bare"))
        .arg("hello")
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&missing.get_output().stderr).to_string();
    assert!(stderr.contains("no wgpu adapter `virtual:7`"), "{stderr}");
    assert!(stderr.contains(&format!("0: {}", first.name)), "{stderr}");
    assert!(
        !stderr.contains("RecvError") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn minilm_embeddings_on_wgpu_equal_flex() {
    let Some(_) = gpu() else { return };
    if attn_testing::program("python3", &["-m", "pip", "--version"]).is_none() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    attn(home.path())
        .args(["fetch-model", "all-MiniLM-L6-v2"])
        .assert()
        .success();
    let texts = [
        "Attention is all you need.",
        "Stocks rallied as oil prices fell",
    ];
    let embed = |backend: &str| {
        let out = attn(home.path())
            .args(["--backend", backend, "embed"])
            .args(texts)
            .assert()
            .success();
        json_lines(&out.get_output().stdout)
    };
    let (flex, gpu) = (embed("flex"), embed("wgpu"));
    assert_eq!(flex.len(), texts.len());
    for ((a, b), text) in flex.iter().zip(&gpu).zip(texts) {
        let as_f32 = |v: &serde_json::Value| -> Vec<f32> {
            v["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        let diff = max_diff(&as_f32(a), &as_f32(b));
        assert!(diff <= 1e-5, "{text}: max abs diff {diff}");
    }
}

fn losses(run: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|r| {
            (
                r["iteration"].as_u64().unwrap(),
                r["loss"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_tiny_run_on_wgpu_learns_is_killed_and_resumes() {
    let Some(_) = gpu() else { return };
    let home = tempfile::tempdir().unwrap();
    let (csv, run) = (home.path().join("train.csv"), home.path().join("run"));
    write_separable_csv(&csv, 64);
    let args = |run_flag: &str| {
        let mut args = tiny_bert_on(&csv);
        args.extend(
            TINY_SETTINGS
                .iter()
                .chain(&["--backend", "wgpu", "--iterations", "40"])
                .chain(&["--report-every", "1", "--checkpoint-every", "10", run_flag])
                .map(Into::into),
        );
        args.push(run.clone().into());
        args
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_attn"))
        .env("ATTN_HOME", home.path())
        .env("HF_HUB_OFFLINE", "1")
        .args(args("--output"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(900);
    while losses(&run).len() < 15 {
        assert!(Instant::now() < deadline, "the run never got going");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = losses(&run);
    assert!(run.join("checkpoints/latest/state.json").is_file());
    let state = std::fs::read_to_string(run.join("checkpoints/latest/state.json")).unwrap();
    let saved = serde_json::from_str::<serde_json::Value>(&state).unwrap()["iteration"]
        .as_u64()
        .unwrap();
    let resumed = attn(home.path())
        .args(args("--resume"))
        .assert()
        .success()
        .stderr(contains(format!("at iteration {saved}")));
    let stderr = String::from_utf8_lossy(&resumed.get_output().stderr).to_string();
    // --max-len 32 pads every batch to 32 tokens: one shape of 16 rows.
    assert!(stderr.contains("Batch shapes: 1 distinct"), "{stderr}");
    let after = losses(&run);
    assert_eq!(
        after.iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    for (redone, first) in after.iter().zip(&before).skip(saved as usize) {
        assert!(
            (redone.1 - first.1).abs() < 1e-3,
            "redone {redone:?} vs first {first:?}"
        );
    }
    let mean = |r: &[(u64, f64)]| r.iter().map(|x| x.1).sum::<f64>() / r.len() as f64;
    let (start, end) = (mean(&after[..5]), mean(&after[35..]));
    assert!(
        end < 0.5 * start,
        "loss {start:.3} -> {end:.3}: the model did not learn"
    );
}
