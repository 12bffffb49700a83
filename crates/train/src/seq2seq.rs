//! Training, loading and scoring the Bahdanau encoder-decoder on parallel text with the shared
//! workflow: the loop's loss is next-word cross-entropy under teacher forcing, the test score
//! corpus BLEU of the decoded translations.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use attn_data::{Example, Subwords, TextBatch, WordVocab, read_parallel, translation_tokens};
use attn_rnn::{Decoding, Seq2Seq, Seq2SeqConfig, Translation};
use attn_transformer::Precision;
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::TrainConfig;
use crate::bleu::{corpus_bleu, detokenize, tokenize_13a};
use crate::classify::{CrossEntropy, Objective, Scored, scored};
use crate::distributed::Cluster;
use crate::error::{Result, TrainError, io_err};
use crate::events::{Event, Observer};
use crate::train_loop::TrainJob;
use crate::workflow::fit_with;

/// The start token of every target sentence.
pub const BOS: &str = "<bos>";
/// The end token of every target sentence.
pub const EOS: &str = "<eos>";
/// The target ids of [`BOS`] and [`EOS`]: the first specials, after `<pad>` and `<unk>`.
const BOS_ID: u32 = 2;
const EOS_ID: u32 = 3;

/// The encoder-decoder's sizes and vocabulary settings (saved as `seq2seq.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seq2SeqSettings {
    /// Width of the word embeddings.
    pub embed_dim: usize,
    /// Hidden width of each encoder direction.
    pub encoder_hidden: usize,
    /// Hidden width of the decoder.
    pub decoder_hidden: usize,
    /// Width of the attention's alignment layer.
    pub attention_dim: usize,
    /// Dropout on the embeddings.
    pub dropout: f64,
    /// Additive attention (false: the decoder sees only the encoder's final state).
    pub attention: bool,
    /// Share of training steps fed the true previous word.
    pub teacher_forcing: f64,
    /// Width of the deep output's maxout layer (0: word scores straight from the features).
    #[serde(default)]
    pub maxout: usize,
    /// Byte-pair subwords per language, learnt on the training split (0: whole words, and what
    /// runs saved before subwords read as).
    #[serde(default)]
    pub subwords: usize,
    /// Words seen fewer times than this in training become `<unk>` (whole words only).
    pub min_freq: usize,
    /// At most this many words per language (specials included).
    pub max_vocab: usize,
    /// Beam width of the test translations (1: greedy).
    pub beam: usize,
}

impl Default for Seq2SeqSettings {
    fn default() -> Self {
        Self {
            embed_dim: 256,
            encoder_hidden: 256,
            decoder_hidden: 256,
            attention_dim: 256,
            dropout: 0.3,
            attention: true,
            teacher_forcing: 1.0,
            maxout: 256,
            subwords: 6000,
            min_freq: 2,
            max_vocab: 50_000,
            beam: 4,
        }
    }
}

/// A source and a target file, line N of one translated by line N of the other.
#[derive(Debug, Clone)]
pub struct ParallelPair {
    /// Source sentences.
    pub source: PathBuf,
    /// Their translations.
    pub target: PathBuf,
}

/// The training, validation and test pairs of a translation run.
#[derive(Debug, Clone)]
pub struct ParallelFiles {
    /// Training pairs.
    pub train: ParallelPair,
    /// Validation pairs (scored during training; none: no validation).
    pub validation: Option<ParallelPair>,
    /// Test pairs (BLEU at the end).
    pub test: ParallelPair,
}

impl ParallelFiles {
    /// Multi30k's `train`, `val` and `test_2016_flickr` files in `dir`, from language `source`
    /// (a file extension: `de`) into `target`.
    pub fn multi30k(dir: &Path, source: &str, target: &str) -> Self {
        let pair = |split: &str| ParallelPair {
            source: dir.join(format!("{split}.{source}")),
            target: dir.join(format!("{split}.{target}")),
        };
        Self {
            train: pair("train"),
            validation: Some(pair("val")),
            test: pair("test_2016_flickr"),
        }
    }
}

/// A translator's vocabularies: source tokens and target tokens with start and end tokens, the
/// tokens being lowercased words or their byte-pair subwords.
#[derive(Debug, Clone)]
pub struct Vocabularies {
    /// Source tokens.
    pub source: WordVocab,
    /// Target tokens; [`BOS`] and [`EOS`] are ids 2 and 3.
    pub target: WordVocab,
    /// The subwords of source and target words (none: the tokens are whole words).
    pub subwords: Option<(Subwords, Subwords)>,
}

impl Vocabularies {
    /// Both vocabularies of the training pairs (and their subwords, when the settings ask).
    pub fn build(
        pairs: &[(String, String)],
        settings: &Seq2SeqSettings,
        max_len: usize,
    ) -> Result<Self> {
        let words = |side: fn(&(String, String)) -> &String| -> Vec<Vec<String>> {
            pairs.iter().map(|p| translation_tokens(side(p))).collect()
        };
        let (source_words, target_words) = (words(|p| &p.0), words(|p| &p.1));
        let subwords = match settings.subwords {
            0 => None,
            n => Some((
                Subwords::learn(&source_words, n)?,
                Subwords::learn(&target_words, n)?,
            )),
        };
        let min_freq = match subwords {
            Some(_) => 1,
            None => settings.min_freq,
        };
        let vocab = |sentences: Vec<Vec<String>>, split: Option<&Subwords>, specials: &[&str]| {
            let tokens = sentences.into_iter().map(|s| match split {
                Some(subwords) => subwords.split(&s),
                None => s,
            });
            WordVocab::of_tokens(tokens, min_freq, settings.max_vocab, max_len, specials)
        };
        Ok(Self {
            source: vocab(source_words, subwords.as_ref().map(|s| &s.0), &[]),
            target: vocab(target_words, subwords.as_ref().map(|s| &s.1), &[BOS, EOS]),
            subwords,
        })
    }

    /// The start and end ids, and the longest translation of a source of `source_len` tokens.
    pub fn decoding(&self, source_len: usize) -> Decoding {
        Decoding {
            bos: BOS_ID,
            eos: EOS_ID,
            max_words: (2 * source_len + 10).min(self.target.max_len),
        }
    }

    /// A pair as the loop trains on it: source ids, and `<bos>` target ids `<eos>`.
    pub fn example(&self, source: &str, target: &str) -> Example {
        let mut tokens = translation_tokens(target);
        if let Some((_, subwords)) = &self.subwords {
            tokens = subwords.split(&tokens);
        }
        let mut ids = vec![BOS_ID];
        ids.extend(self.target.encode_tokens(&tokens));
        ids.push(EOS_ID);
        Example {
            ids: self.source_ids(source),
            label: 0,
            target: ids,
        }
    }

    /// The tokens of a source sentence as the model reads them: at most `max_len`, at least one
    /// (`<unk>` for an empty sentence).
    pub fn source_tokens(&self, source: &str) -> Vec<String> {
        let mut tokens = translation_tokens(source);
        if let Some((subwords, _)) = &self.subwords {
            tokens = subwords.split(&tokens);
        }
        tokens.truncate(self.source.max_len);
        if tokens.is_empty() {
            tokens.push(self.source.words[WordVocab::UNK as usize].clone());
        }
        tokens
    }

    /// The ids of a source sentence's [`Vocabularies::source_tokens`].
    pub fn source_ids(&self, source: &str) -> Vec<u32> {
        self.source.encode_tokens(&self.source_tokens(source))
    }

    /// The tokens of target ids (subwords where the vocabularies have them).
    pub fn target_tokens(&self, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&i| {
                self.target
                    .words
                    .get(i as usize)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The words of target ids: their tokens, subwords joined into words.
    pub fn target_words(&self, ids: &[u32]) -> Vec<String> {
        let tokens = self.target_tokens(ids);
        match self.subwords {
            Some(_) => Subwords::join(&tokens),
            None => tokens,
        }
    }

    /// Writes the vocabularies (and subwords) into a run directory.
    fn save(&self, run: &Path) -> Result<()> {
        self.source.save(&run.join("source_vocab.json"))?;
        self.target.save(&run.join("target_vocab.json"))?;
        if let Some((source, target)) = &self.subwords {
            source.save(&run.join("source_subwords.json"))?;
            target.save(&run.join("target_subwords.json"))?;
        }
        Ok(())
    }

    /// Reads what [`Vocabularies::save`] wrote for a run trained with `settings`.
    fn load(run: &Path, settings: &Seq2SeqSettings) -> Result<Self> {
        let subwords = match settings.subwords {
            0 => None,
            _ => Some((
                Subwords::load(&run.join("source_subwords.json"))?,
                Subwords::load(&run.join("target_subwords.json"))?,
            )),
        };
        Ok(Self {
            source: WordVocab::load(&run.join("source_vocab.json"))?,
            target: WordVocab::load(&run.join("target_vocab.json"))?,
            subwords,
        })
    }
}

impl<B: Backend> Objective<B> for Seq2Seq<B> {
    /// Next-word cross-entropy over the real target positions; in training a share
    /// 1 - `teacher_forcing` of the steps (drawn from the backend's seeded generator) read the
    /// model's own previous word.
    fn objective(&self, batch: &TextBatch<B>, loss_fn: CrossEntropy) -> Result<Scored<B>> {
        let targets = batch.targets.as_ref().ok_or_else(|| {
            TrainError::Settings("a translation batch needs target sentences".into())
        })?;
        let steps = targets.inputs.dims()[1];
        let device = targets.inputs.device();
        let forced = match B::ad_enabled(&device) && self.teacher_forcing < 1.0 {
            true => {
                let draws =
                    Tensor::<B, 1>::random([steps], Distribution::Uniform(0.0, 1.0), &device);
                let draws: Vec<f32> = draws.into_data().convert::<f32>().to_vec().expect("floats");
                draws
                    .iter()
                    .map(|&d| f64::from(d) < self.teacher_forcing)
                    .collect()
            }
            false => vec![true; steps],
        };
        let encoded = self.encode(batch.input_ids.clone(), &batch.lengths);
        let (real, positions) =
            self.teacher_forced(&encoded, targets.inputs.clone(), &targets.steps, &forced);
        let positions: Vec<i64> = positions.into_iter().map(|p| p as i64).collect();
        let count = positions.len();
        let labels = (targets.labels.clone()).select(
            0,
            Tensor::from_data(TensorData::new(positions, [count]), &device),
        );
        Ok(scored(self.logits(real), labels, loss_fn))
    }
}

/// What a translation run's test set scored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BleuReport {
    /// Corpus BLEU-4 on lowercased tokens, no smoothing (the reference's measure).
    pub bleu: f64,
    /// sacreBLEU-style BLEU: 13a tokens of the detokenized, lowercased text.
    pub bleu_13a: f64,
    /// Sentence pairs scored.
    pub sentences: usize,
    /// Beam width (1: greedy).
    pub beam: usize,
    /// Sentences translated per second.
    pub sentences_per_s: f64,
    /// BLEU of the sentences grouped by source length (the paper's Fig. 2: without attention,
    /// long sentences degrade).
    #[serde(default)]
    pub by_source_length: Vec<LengthBucket>,
}

/// The BLEU of the sentences whose source has `from..to` tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LengthBucket {
    /// Fewest source tokens.
    pub from: usize,
    /// One past the most (`usize::MAX`: no limit).
    pub to: usize,
    /// Sentences in the bucket.
    pub sentences: usize,
    /// Their corpus BLEU.
    pub bleu: f64,
}

/// Source-length edges of [`BleuReport::by_source_length`].
const LENGTH_EDGES: [usize; 6] = [0, 10, 15, 20, 25, usize::MAX];

/// BLEU by source length: `lengths[i]` tokens for hypothesis and reference i.
fn by_length(
    lengths: &[usize],
    hypotheses: &[Vec<String>],
    references: &[Vec<String>],
) -> Vec<LengthBucket> {
    LENGTH_EDGES
        .windows(2)
        .filter_map(|edge| {
            let (from, to) = (edge[0], edge[1]);
            let inside: Vec<usize> = (0..lengths.len())
                .filter(|&i| (from..to).contains(&lengths[i]))
                .collect();
            let pick =
                |all: &[Vec<String>]| inside.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();
            (!inside.is_empty()).then(|| LengthBucket {
                from,
                to,
                sentences: inside.len(),
                bleu: corpus_bleu(&pick(hypotheses), &pick(references)),
            })
        })
        .collect()
}

/// Translates `sources` (each as ids) in batches of `batch_size` sorted by length: greedy
/// decoding for a beam of 1 (the batch's longest source sets its cap), else beam search (each
/// source its own cap).
pub fn translate_ids<B: Backend>(
    model: &Seq2Seq<B>,
    vocabs: &Vocabularies,
    sources: &[Vec<u32>],
    beam: usize,
    batch_size: usize,
    device: &B::Device,
) -> Vec<Translation> {
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| sources[i].len());
    let mut out = vec![Translation::default(); sources.len()];
    for rows in order.chunks(batch_size.max(1)) {
        let lengths: Vec<usize> = rows.iter().map(|&i| sources[i].len()).collect();
        let longest = lengths.iter().copied().max().unwrap_or(1);
        let mut ids = vec![WordVocab::PAD as i64; rows.len() * longest];
        for (r, &i) in rows.iter().enumerate() {
            for (t, &id) in sources[i].iter().enumerate() {
                ids[r * longest + t] = id as i64;
            }
        }
        let ids =
            Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [rows.len(), longest]), device);
        let translated = match beam > 1 {
            true => {
                let decodings: Vec<_> = lengths.iter().map(|&l| vocabs.decoding(l)).collect();
                model.beam_search(ids, &lengths, beam, &decodings)
            }
            false => model.greedy(ids, &lengths, vocabs.decoding(longest)),
        };
        for (&i, t) in rows.iter().zip(translated) {
            out[i] = t;
        }
    }
    out
}

/// Translates the source side of `pairs` and scores it against the target side.
pub fn score_bleu<B: Backend>(
    model: &Seq2Seq<B>,
    vocabs: &Vocabularies,
    pairs: &[(String, String)],
    beam: usize,
    batch_size: usize,
    device: &B::Device,
) -> (BleuReport, Vec<Vec<String>>) {
    let started = Instant::now();
    let sources: Vec<Vec<u32>> = pairs.iter().map(|p| vocabs.source_ids(&p.0)).collect();
    let translations = translate_ids(model, vocabs, &sources, beam, batch_size, device);
    let hypotheses: Vec<Vec<String>> = translations
        .iter()
        .map(|t| vocabs.target_words(&t.tokens))
        .collect();
    let references: Vec<Vec<String>> = pairs.iter().map(|p| translation_tokens(&p.1)).collect();
    let seconds = started.elapsed().as_secs_f64();
    let hyp_13a: Vec<Vec<String>> = hypotheses
        .iter()
        .map(|h| tokenize_13a(&detokenize(h)))
        .collect();
    let ref_13a: Vec<Vec<String>> = pairs.iter().map(|p| tokenize_13a(&p.1)).collect();
    let lengths: Vec<usize> = pairs
        .iter()
        .map(|p| translation_tokens(&p.0).len())
        .collect();
    let report = BleuReport {
        bleu: corpus_bleu(&hypotheses, &references),
        bleu_13a: corpus_bleu(&hyp_13a, &ref_13a),
        sentences: pairs.len(),
        beam,
        sentences_per_s: pairs.len() as f64 / seconds,
        by_source_length: by_length(&lengths, &hypotheses, &references),
    };
    (report, hypotheses)
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

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
    if cfg.precision != Precision::F32 {
        return Err(TrainError::RnnPrecision(cfg.precision.name()));
    }
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
    observer.event(Event::PreparedPairs {
        train: train.len(),
        validation: validation.len(),
        test: test_pairs.len(),
        source_tokens: vocabs.source.len(),
        target_tokens: vocabs.target.len(),
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
    fit_with(model, job, None, save, evaluate)
}

/// Writes a trained translator and what reading it back needs into `run`.
fn save_seq2seq<B: Backend>(
    model: &Seq2Seq<B>,
    config: &Seq2SeqConfig,
    settings: &Seq2SeqSettings,
    vocabs: &Vocabularies,
    run: &Path,
) -> Result<()> {
    std::fs::create_dir_all(run).map_err(io_err(run))?;
    vocabs.save(run)?;
    let json = serde_json::json!({"model": config, "settings": settings});
    let text = serde_json::to_string_pretty(&json).expect("serializes");
    attn_atomic::write(&run.join("seq2seq.json"), text.as_bytes())?;
    model
        .clone()
        .save_file(run.join("seq2seq_model"), &recorder())
        .map_err(|e| TrainError::Checkpoint {
            path: run.join("seq2seq_model.mpk"),
            reason: e.to_string(),
        })
}

/// Tells the observer of the score and writes `eval.json` and `translations.txt` (one
/// translation per test line) into `dir`.
fn write_evaluation(
    report: &BleuReport,
    hypotheses: &[Vec<String>],
    dir: &Path,
    observer: &dyn Observer,
) -> Result<()> {
    observer.event(Event::Translated(report));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let json = serde_json::to_string_pretty(report).expect("serializes");
    attn_atomic::write(&dir.join("eval.json"), json.as_bytes())?;
    let lines: Vec<String> = hypotheses.iter().map(|h| detokenize(h) + "\n").collect();
    attn_atomic::write(&dir.join("translations.txt"), lines.concat().as_bytes())?;
    Ok(())
}

/// A trained translator read back from its run directory.
pub struct LoadedSeq2Seq<B: Backend> {
    /// The model.
    pub model: Seq2Seq<B>,
    /// Its vocabularies.
    pub vocabs: Vocabularies,
    /// The settings it was trained with (the beam among them).
    pub settings: Seq2SeqSettings,
}

/// Loads a trained translator from its run directory.
pub fn load_seq2seq<B: Backend>(run: &Path, device: &B::Device) -> Result<LoadedSeq2Seq<B>> {
    let path = run.join("seq2seq.json");
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    let bad = |e: serde_json::Error| TrainError::Checkpoint {
        path: path.clone(),
        reason: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
    let config: Seq2SeqConfig = serde_json::from_value(value["model"].clone()).map_err(bad)?;
    let settings: Seq2SeqSettings =
        serde_json::from_value(value["settings"].clone()).map_err(bad)?;
    let model = config
        .init::<B>(device)
        .load_file(run.join("seq2seq_model"), &recorder(), device)
        .map_err(|e| TrainError::Checkpoint {
            path: run.join("seq2seq_model.mpk"),
            reason: e.to_string(),
        })?;
    let vocabs = Vocabularies::load(run, &settings)?;
    Ok(LoadedSeq2Seq {
        model,
        vocabs,
        settings,
    })
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
        None => observer.event(Event::Translated(&report)),
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<(String, String)> {
        vec![
            ("Ein Hund läuft.".into(), "A dog runs.".into()),
            ("Ein Mann.".into(), "A man.".into()),
        ]
    }

    #[test]
    fn a_pair_becomes_source_ids_and_a_target_between_start_and_end() {
        let settings = Seq2SeqSettings {
            min_freq: 1,
            subwords: 0,
            ..Seq2SeqSettings::default()
        };
        let vocabs = Vocabularies::build(&pairs(), &settings, 64).unwrap();
        assert_eq!(vocabs.target.id(BOS), Some(2));
        assert_eq!(vocabs.target.id(EOS), Some(3));
        let example = vocabs.example("Ein Hund.", "A dog.");
        assert_eq!(example.ids.len(), 3);
        assert_eq!(example.target.first(), Some(&2));
        assert_eq!(example.target.last(), Some(&3));
        let words = vocabs.target_words(&example.target[1..example.target.len() - 1]);
        assert_eq!(words, ["a", "dog", "."]);
        assert_eq!(vocabs.source_ids("   "), [WordVocab::UNK]);
        assert_eq!(vocabs.decoding(3).max_words, 16);
    }

    #[test]
    fn subword_vocabularies_split_the_words_give_them_back_and_reload() {
        let settings = Seq2SeqSettings {
            subwords: 1,
            ..Seq2SeqSettings::default()
        };
        let vocabs = Vocabularies::build(&pairs(), &settings, 64).unwrap();
        let example = vocabs.example("Ein Hund.", "A dog runs.");
        let inner = &example.target[1..example.target.len() - 1];
        assert_eq!(vocabs.target_words(inner), ["a", "dog", "runs", "."]);
        let tokens = vocabs.target_tokens(inner);
        assert!(tokens.contains(&"##o".to_string()), "{tokens:?}");
        let source = vocabs.source_tokens("Ein Hund.");
        assert_eq!(source[..3], ["e", "##i", "##n"]);
        assert_eq!(example.ids.len(), source.len());
        let dir = tempfile::tempdir().unwrap();
        vocabs.save(dir.path()).unwrap();
        let back = Vocabularies::load(dir.path(), &settings).unwrap();
        assert_eq!(back.source_ids("Ein Hund."), vocabs.source_ids("Ein Hund."));
        assert_eq!(back.target_words(inner), vocabs.target_words(inner));
    }

    #[test]
    fn bleu_by_source_length_groups_the_sentences() {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let refs = [words("a b c d"), words("e f g h"), words("i j k l")];
        let hyps = [words("a b c d"), words("x y z w"), words("i j k l")];
        let buckets = by_length(&[3, 12, 4], &hyps, &refs);
        assert_eq!(buckets.len(), 2);
        assert_eq!(
            (buckets[0].from, buckets[0].to, buckets[0].sentences),
            (0, 10, 2)
        );
        assert!((buckets[0].bleu - 1.0).abs() < 1e-12);
        assert_eq!(
            (buckets[1].from, buckets[1].sentences, buckets[1].bleu),
            (10, 1, 0.0)
        );
    }
}
