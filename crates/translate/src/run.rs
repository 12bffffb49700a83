//! Training, loading and scoring the Bahdanau encoder-decoder on parallel text with the shared
//! run: the loop's loss is next-word cross-entropy under teacher forcing, the test score corpus
//! BLEU of the decoded translations.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use attn_data::{Example, WordVocab, read_parallel};
use attn_rnn::{Seq2Seq, Seq2SeqConfig};
use attn_train::{Cluster, Event, Observer, Result, TrainConfig, TrainJob};
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::files::{ParallelFiles, ParallelPair};
use crate::objective::MachineTranslation;
use crate::report::{BleuReport, score_bleu, write_evaluation};
use crate::saved::{load_seq2seq, save_seq2seq};
use crate::settings::Seq2SeqSettings;
use crate::vocab::Vocabularies;

/// Trains an encoder-decoder on `files` into `run` (vocabularies from the training pairs), then
/// translates the test sources and scores them with BLEU (on rank 0 of `cluster`; the other
/// ranks return `None`). Writes `seq2seq.json`, `source_vocab.json`, `target_vocab.json` (and
/// with subwords `source_subwords.json`, `target_subwords.json`), `seq2seq_model.mpk`,
/// `translations.txt` and `eval.json` beside the loop's files.
pub fn train_seq2seq<B: AutodiffBackend>(
    cfg: &TrainConfig,
    settings: &Seq2SeqSettings,
    files: &ParallelFiles,
    run: &Path,
    device: &B::Device,
    cluster: &Cluster,
    observer: Arc<dyn Observer>,
) -> Result<Option<BleuReport>> {
    cfg.require_f32("translator")?;
    let started = Instant::now();
    let read = |pair: &ParallelPair| read_parallel(&pair.source, &pair.target);
    let train_pairs = read(&files.train)?;
    let validation_pairs = files
        .validation
        .as_ref()
        .map(read)
        .transpose()?
        .unwrap_or_default();
    let test_pairs = read(&files.test)?;
    let vocabs = Vocabularies::build(&train_pairs, settings, cfg.max_len)?;
    let examples = |pairs: &[(String, String)]| -> Vec<Example> {
        pairs.iter().map(|(s, t)| vocabs.example(s, t)).collect()
    };
    let (train, validation) = (examples(&train_pairs), examples(&validation_pairs));
    let data = format!(
        "{} training, {} validation and {} test pairs, {} source and {} target tokens",
        train.len(),
        validation.len(),
        test_pairs.len(),
        vocabs.source.len(),
        vocabs.target.len()
    );
    observer.event(Event::Prepared {
        data: &data,
        seconds: started.elapsed().as_secs_f64(),
    });
    let config = Seq2SeqConfig {
        source_vocab: vocabs.source.len(),
        target_vocab: vocabs.target.len(),
        embed_dim: settings.embed_dim,
        encoder_hidden: settings.encoder_hidden,
        decoder_hidden: settings.decoder_hidden,
        attention_dim: settings.attention_dim,
        dropout: settings.dropout,
        attention: settings.attention,
        teacher_forcing: settings.teacher_forcing,
        maxout: settings.maxout,
    };
    B::seed(device, cfg.seed);
    let model = config.init::<B>(device);
    let job = TrainJob {
        examples: &train,
        validation: &validation,
        cfg,
        pad_id: WordVocab::PAD,
        run,
        device,
        cluster,
        observer: observer.clone(),
    };
    let save =
        |model: &Seq2Seq<B::InnerBackend>| save_seq2seq(model, &config, settings, &vocabs, run);
    let evaluate = |model: &Seq2Seq<B::InnerBackend>, cfg: &TrainConfig| {
        let limit = match cfg.eval_limit {
            0 => test_pairs.len(),
            n => n.min(test_pairs.len()),
        };
        let test = &test_pairs[..limit];
        let (report, hypotheses) = score_bleu(
            model,
            &vocabs,
            test,
            settings.beam,
            cfg.eval_batch_size,
            device,
        );
        write_evaluation(&report, &hypotheses, run, observer.as_ref())?;
        let fields = serde_json::json!({
            "test_bleu": report.bleu,
            "test_bleu_13a": report.bleu_13a,
            "test_rows": report.sentences,
            "inference_samples_per_s": report.sentences_per_s,
        });
        Ok((report, fields))
    };
    attn_train::fit((model, &MachineTranslation), job, || Ok(()), save, evaluate)
}

/// Scores a trained translator's run directory on a parallel pair of files, writing
/// `eval.json` and `translations.txt` into `out` when given.
pub fn eval_seq2seq<B: Backend>(
    run: &Path,
    test: &ParallelPair,
    beam: Option<usize>,
    batch_size: usize,
    out: Option<&Path>,
    device: &B::Device,
    observer: &dyn Observer,
) -> Result<BleuReport> {
    let loaded = load_seq2seq::<B>(run, device)?;
    let pairs = read_parallel(&test.source, &test.target)?;
    let beam = beam.unwrap_or(loaded.settings.beam);
    let (report, hypotheses) = score_bleu(
        &loaded.model,
        &loaded.vocabs,
        &pairs,
        beam,
        batch_size,
        device,
    );
    match out {
        Some(dir) => write_evaluation(&report, &hypotheses, dir, observer)?,
        None => observer.event(Event::Scores(&report)),
    }
    Ok(report)
}
