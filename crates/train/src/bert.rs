//! Fine-tuning and evaluating BERT classifiers: the reference workflow end to end.

use std::path::{Path, PathBuf};
use std::time::Instant;

use attn_data::{
    CsvFormat, Example, LabelMap, TextBatcher, TextEncoder, read_raw, stratified_split,
    tokenize_cached,
};
use attn_transformer::{
    BertForSequenceClassification, BertTokenizer, Pooling, saved_pooling, write_atomic,
};
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::error::{Result, TrainError, io_err};
use crate::metrics::EvalReport;
use crate::trainer::{predict, train};
use crate::{TrainConfig, WordPieceEncoder};

/// Labelled train and test files and how to read them.
#[derive(Debug, Clone)]
pub struct DataFiles {
    /// Training file (absent for evaluation only).
    pub train: Option<PathBuf>,
    /// Test file.
    pub test: PathBuf,
    /// How the files are laid out.
    pub format: CsvFormat,
    /// Class map, when fixed in advance (AG News); else built from the training file.
    pub labels: Option<LabelMap>,
    /// Where token caches go when the data's directory is read-only.
    pub cache_root: PathBuf,
}

impl DataFiles {
    /// AG News `train.csv` and `test.csv` in `dir`.
    pub fn ag_news(dir: &Path, cache_root: &Path) -> Self {
        Self {
            train: Some(dir.join("train.csv")),
            test: dir.join("test.csv"),
            format: CsvFormat::ag_news(),
            labels: Some(LabelMap::ag_news()),
            cache_root: cache_root.to_path_buf(),
        }
    }

    /// Reads and tokenizes one file with a known label map.
    fn examples(
        &self,
        path: &Path,
        labels: &LabelMap,
        skip_bad: bool,
        encoder: &dyn TextEncoder,
    ) -> Result<Vec<Example>> {
        let table = read_raw(path, &self.format, skip_bad)?;
        let (rows, skipped) = labels.apply(table, skip_bad)?;
        if skipped > 0 {
            eprintln!("{}: skipped {skipped} bad rows", path.display());
        }
        Ok(tokenize_cached(path, &rows, encoder, &self.cache_root)?.examples)
    }

    /// The label map: fixed, or built from the training file.
    fn label_map(&self, skip_bad: bool) -> Result<LabelMap> {
        match (&self.labels, &self.train) {
            (Some(map), _) => Ok(map.clone()),
            (None, Some(train)) => Ok(LabelMap::from_table(&read_raw(
                train,
                &self.format,
                skip_bad,
            )?)),
            (None, None) => Err(TrainError::Settings(
                "no label map and no training file to build one".into(),
            )),
        }
    }
}

/// Fine-tunes the BERT model in `model_dir` on `data` into the run directory `run`, then
/// evaluates it on the test file. Resumes from `run`'s checkpoint when there is one.
pub fn train_bert<B: AutodiffBackend>(
    cfg: &TrainConfig,
    model_dir: &Path,
    data: &DataFiles,
    run: &Path,
    device: &B::Device,
) -> Result<EvalReport> {
    std::fs::create_dir_all(run).map_err(io_err(run))?;
    let pooling: Pooling = cfg.pooling.parse()?;
    let labels = data.label_map(cfg.skip_bad_rows)?;
    let tokenizer = BertTokenizer::from_dir(model_dir, cfg.max_len)?;
    let encoder = WordPieceEncoder::new(tokenizer, model_dir, cfg.max_len);
    let train_file = data
        .train
        .as_ref()
        .ok_or_else(|| TrainError::Settings("training needs a training file".into()))?;
    let started = Instant::now();
    let train_set = data.examples(train_file, &labels, cfg.skip_bad_rows, &encoder)?;
    let test_set = data.examples(&data.test, &labels, cfg.skip_bad_rows, &encoder)?;
    eprintln!(
        "Data: {} training and {} test rows, {} classes, tokenized in {:.1}s",
        train_set.len(),
        test_set.len(),
        labels.len(),
        started.elapsed().as_secs_f64()
    );

    let (model, config) = BertForSequenceClassification::<B>::from_pretrained(
        model_dir,
        Some(labels.len()),
        pooling,
        device,
    )?;
    encoder.tokenizer.check_fits(config.vocab_size)?;
    if cfg.max_len > config.max_position_embeddings {
        return Err(TrainError::Settings(format!(
            "--max-len {} exceeds the model's max_position_embeddings {}",
            cfg.max_len, config.max_position_embeddings
        )));
    }
    let run_config = run.join("config.json");
    write_atomic(
        &run.join("run.json"),
        serde_json::to_string_pretty(cfg)
            .expect("serializes")
            .as_bytes(),
    )?;
    labels.save(&run.join("labels.json"))?;

    let started = Instant::now();
    let (train_set, validation) = if cfg.val_fraction > 0.0 {
        let labels: Vec<usize> = train_set.iter().map(|e| e.label).collect();
        let (keep, held) = stratified_split(&labels, cfg.val_fraction, cfg.seed);
        let pick = |idx: &[usize]| {
            idx.iter()
                .map(|&i| train_set[i].clone())
                .collect::<Vec<_>>()
        };
        (pick(&keep), pick(&held))
    } else {
        (train_set, Vec::new())
    };
    let model = train::<B, _>(
        model,
        &train_set,
        &validation,
        cfg,
        encoder.pad_id(),
        run,
        device,
    )?;
    let train_s = started.elapsed().as_secs_f64();
    let model = model.valid();
    crate::curves::plot_run(run)?;
    model.save_pretrained(run, &config, &labels.names, model_dir)?;
    eprintln!(
        "Trained in {train_s:.1}s; model saved to {} ({})",
        run.display(),
        run_config.display()
    );

    let report = evaluate(&model, &test_set, &labels, cfg, encoder.pad_id(), device);
    finish(&report, run)?;
    Ok(report)
}

/// Evaluates a saved classifier directory (a run dir or any HF model with a head) on `data.test`.
pub fn eval_bert<B: Backend>(
    model_dir: &Path,
    data: &DataFiles,
    cfg: &TrainConfig,
    out: Option<&Path>,
    device: &B::Device,
) -> Result<EvalReport> {
    let labels = match LabelMap::load(&model_dir.join("labels.json")) {
        Ok(map) => map,
        Err(_) => data.label_map(cfg.skip_bad_rows)?,
    };
    let tokenizer = BertTokenizer::from_dir(model_dir, cfg.max_len)?;
    let encoder = WordPieceEncoder::new(tokenizer, model_dir, cfg.max_len);
    let pooling = saved_pooling(model_dir).unwrap_or(Pooling::Cls);
    let (model, config) = BertForSequenceClassification::<B>::from_pretrained(
        model_dir,
        Some(labels.len()),
        pooling,
        device,
    )?;
    encoder.tokenizer.check_fits(config.vocab_size)?;
    let test_set = data.examples(&data.test, &labels, cfg.skip_bad_rows, &encoder)?;
    let report = evaluate(&model, &test_set, &labels, cfg, encoder.pad_id(), device);
    if let Some(out) = out {
        finish(&report, out)?;
    } else {
        print_report(&report);
    }
    Ok(report)
}

fn evaluate<B: Backend>(
    model: &BertForSequenceClassification<B>,
    test_set: &[Example],
    labels: &LabelMap,
    cfg: &TrainConfig,
    pad_id: u32,
    device: &B::Device,
) -> EvalReport {
    let limit = if cfg.eval_limit == 0 {
        test_set.len()
    } else {
        cfg.eval_limit.min(test_set.len())
    };
    let test_set = &test_set[..limit];
    let batcher = TextBatcher {
        pad_id,
        max_len: cfg.max_len,
    };
    let started = Instant::now();
    let predicted = predict(model, test_set, cfg.eval_batch_size, batcher, device);
    let rate = test_set.len() as f64 / started.elapsed().as_secs_f64();
    let actual: Vec<usize> = test_set.iter().map(|e| e.label).collect();
    EvalReport::new(&predicted, &actual, &labels.names, rate)
}

fn print_report(report: &EvalReport) {
    println!("Final accuracy: {:.4}", report.test_accuracy);
    println!("{}", report.table());
}

/// Prints the report and writes `eval.json` into `dir`.
fn finish(report: &EvalReport, dir: &Path) -> Result<()> {
    print_report(report);
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    write_atomic(
        &dir.join("eval.json"),
        serde_json::to_string_pretty(report)
            .expect("serializes")
            .as_bytes(),
    )?;
    Ok(())
}
