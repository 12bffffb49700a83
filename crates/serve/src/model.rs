//! The served model: which kind a directory holds, and one batch of inputs through it.

use std::path::Path;

use attn_classify::load_rnn;
use attn_data::{Example, TextBatcher, WordVocab};
use attn_rnn::RnnAttentionClassifier;
use attn_tag::{Layout, Tagger, is_rnn_tagger, is_tagger, load_tagger, tag_texts};
use attn_train::TrainConfig;
use attn_transformer::{
    BertForSequenceClassification, BertInput, BertModel, BertTokenizer, Encoded, Packing, Pooling,
    mean_pool, saved_pooling,
};
use attn_translate::{LoadedSeq2Seq, detokenize, load_seq2seq, translate_texts};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::attention::{Attention, Heads, Matrices, Probe};
use crate::error::ServeError;
use crate::frontend::{Frontend, Kind, Reader};
use crate::job::{Job, Output};
use crate::types::EmbedPooling;

/// A loaded model, owned by the worker.
pub enum Served<B: Backend> {
    /// A BERT text classifier and its padding id.
    Classifier(Box<BertForSequenceClassification<B>>, u32),
    /// The RNN baseline classifier.
    Rnn(Box<RnnAttentionClassifier<B>>, TextBatcher),
    /// A BERT tagger and how it cuts texts.
    Tagger(Box<Tagger<B>>, Layout),
    /// A BERT encoder, for embeddings, and its padding id.
    Encoder(Box<BertModel<B>>, u32),
    /// A translator.
    Translator(Box<LoadedSeq2Seq<B>>),
}

/// Loads the model in `dir` as `attn predict` and `attn translate` read it (a translator, an RNN
/// run, a tagger, a sequence classifier, else a bare encoder), with the reader of its inputs.
pub fn load<B: Backend>(
    dir: &Path,
    max_len: usize,
    device: &B::Device,
) -> Result<(Served<B>, Frontend), ServeError> {
    let refuse = |reason: &str| ServeError::Model {
        path: dir.to_path_buf(),
        reason: reason.into(),
    };
    if dir.join("seq2seq.json").is_file() {
        let loaded = load_seq2seq::<B>(dir, device)?;
        let longest = loaded.vocabs.source.max_len;
        let reader = Reader::Source(Box::new(loaded.vocabs.clone()));
        let kind = Kind::Translator(loaded.settings.beam);
        let heads = match loaded.settings.attention {
            true => Heads::Alignment,
            false => Heads::None,
        };
        let front = Frontend::new(dir, reader, kind, longest, heads);
        return Ok((Served::Translator(Box::new(loaded)), front));
    }
    if dir.join("rnn.json").is_file() {
        let (model, vocab, labels) = load_rnn::<B>(dir, device)?;
        let batcher = TextBatcher::longest(WordVocab::PAD, vocab.max_len);
        let front = Frontend::new(
            dir,
            Reader::Words(vocab),
            Kind::Classifier(labels.names.clone()),
            max_len,
            Heads::Additive,
        );
        return Ok((Served::Rnn(Box::new(model), batcher), front));
    }
    if is_rnn_tagger(dir) {
        return Err(refuse(
            "the recurrent tagger is scored with `attn eval`; BERT taggers are served",
        ));
    }
    if is_tagger(dir) {
        let tagger = load_tagger::<B>(dir, max_len, device)?;
        let cfg = TrainConfig {
            max_len,
            eval_batch_size: 32,
            ..TrainConfig::default()
        };
        let layout = tagger.layout(&cfg)?;
        let kind = Kind::Tagger(tagger.tags.names.clone());
        let reader = Reader::Bert(Box::new(tagger.tokenizer.clone()));
        let heads = self_attention(&tagger.model.bert);
        let front = Frontend::new(dir, reader, kind, max_len, heads);
        return Ok((Served::Tagger(Box::new(tagger), layout), front));
    }
    let tokenizer = BertTokenizer::from_dir(dir, max_len)?;
    if is_sequence_classifier(dir) {
        let pooling = saved_pooling(dir).unwrap_or(Pooling::Cls);
        let (model, config) =
            BertForSequenceClassification::<B>::from_pretrained(dir, None, pooling, device)?;
        tokenizer.check_fits(config.vocab_size)?;
        let saved = config.id2label.unwrap_or_default();
        let names: Vec<String> = (0..model.num_labels())
            .map(|i| (saved.get(&i.to_string()).cloned()).unwrap_or_else(|| format!("LABEL_{i}")))
            .collect();
        let pad = tokenizer.pad_id;
        let heads = self_attention(&model.bert);
        let front = Frontend::new(
            dir,
            Reader::Bert(Box::new(tokenizer)),
            Kind::Classifier(names),
            max_len,
            heads,
        );
        return Ok((Served::Classifier(Box::new(model), pad), front));
    }
    let (model, config) = BertModel::<B>::from_pretrained(dir, device)?;
    tokenizer.check_fits(config.vocab_size)?;
    let pad = tokenizer.pad_id;
    let front = Frontend::new(
        dir,
        Reader::Bert(Box::new(tokenizer)),
        Kind::Embedding,
        max_len,
        self_attention(&model),
    );
    Ok((Served::Encoder(Box::new(model), pad), front))
}

/// Whether `dir`'s `config.json` declares a sequence-classification head.
fn is_sequence_classifier(dir: &Path) -> bool {
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap_or_default();
    let config: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    (config["architectures"].as_array().into_iter().flatten())
        .filter_map(|a| a.as_str())
        .any(|a| a.ends_with("ForSequenceClassification"))
}

/// The layers and heads of a BERT encoder.
fn self_attention<B: Backend>(bert: &BertModel<B>) -> Heads {
    let layers = &bert.encoder.layer;
    Heads::SelfAttention {
        layers: layers.len(),
        heads: layers
            .first()
            .map_or(0, |l| l.attention.self_attention.num_heads),
    }
}

impl<B: Backend> Served<B> {
    /// Whether a batch runs on its real tokens alone ([`Packing`]): a BERT on the CPU, where
    /// padding costs no work, so inputs of any lengths batch together.
    pub fn packs(&self) -> bool {
        let bert = matches!(
            self,
            Served::Classifier(..) | Served::Tagger(..) | Served::Encoder(..)
        );
        bert && Packing::runs_on::<B>()
    }

    /// Runs `jobs` (of this model's kind): `/attend`'s one at a time, the others as one batch.
    pub fn run(&self, jobs: &[&Job], device: &B::Device) -> Result<Vec<Output>, String> {
        let (probes, rest): (Vec<usize>, Vec<usize>) =
            (0..jobs.len()).partition(|&i| matches!(jobs[i], Job::Attend(_)));
        if probes.is_empty() {
            return self.run_batch(jobs, device);
        }
        let mut out: Vec<Option<Output>> = vec![None; jobs.len()];
        for &i in &probes {
            let Job::Attend(probe) = jobs[i] else {
                unreachable!("an attention job")
            };
            out[i] = Some(Output::Attention(self.attend(probe, device)?));
        }
        if !rest.is_empty() {
            let batch: Vec<&Job> = rest.iter().map(|&i| jobs[i]).collect();
            for (i, o) in rest.into_iter().zip(self.run_batch(&batch, device)?) {
                out[i] = Some(o);
            }
        }
        Ok(out.into_iter().map(|o| o.expect("answered")).collect())
    }

    /// What the model attends to in one text, read alone and unpadded as `attn attend` reads it.
    pub fn attend(&self, probe: &Probe, device: &B::Device) -> Result<Attention, String> {
        let bert = |bert: &BertModel<B>, encoded: &Encoded, pick: Option<(usize, usize)>| {
            let maps = bert
                .attention_maps(encoded, device)
                .map_err(|e| e.to_string())?;
            let (layers, heads) = maps.shape();
            let attention = match pick {
                Some((l, h)) => Matrices::One(maps.probs[l][h].clone()),
                None => Matrices::All(maps.probs),
            };
            Ok(Attention::SelfAttention {
                tokens: maps.tokens,
                layers,
                heads,
                layer: pick.map(|p| p.0),
                head: pick.map(|p| p.1),
                attention,
            })
        };
        match (self, probe) {
            (Served::Classifier(model, _), Probe::Pieces(e, pick)) => bert(&model.bert, e, *pick),
            (Served::Tagger(tagger, _), Probe::Pieces(e, pick)) => {
                bert(&tagger.model.bert, e, *pick)
            }
            (Served::Encoder(model, _), Probe::Pieces(e, pick)) => bert(model, e, *pick),
            (Served::Rnn(model, batcher), Probe::Words(words, ids)) => {
                let example = Example {
                    ids: ids.clone(),
                    ..Default::default()
                };
                let batch = batcher.collate::<B>(&[&example], device);
                let weights = model.forward(batch.input_ids, &batch.lengths).weights;
                Ok(Attention::Additive {
                    words: words.clone(),
                    attention: rows(weights).remove(0),
                })
            }
            (Served::Translator(loaded), Probe::Source(text)) => {
                let t = translate_texts(loaded, &[text], None, 1, device).remove(0);
                Ok(Attention::Alignment {
                    translation: detokenize(&t.words),
                    tokens: t.tokens,
                    source_tokens: t.source,
                    attention: t.alignment,
                })
            }
            (_, probe) => unreachable!("this model attended to {probe:?}"),
        }
    }

    /// Runs `jobs` (of this model's kind, none of `/attend`'s) as one batch.
    fn run_batch(&self, jobs: &[&Job], device: &B::Device) -> Result<Vec<Output>, String> {
        match self {
            Served::Classifier(model, pad) => {
                let encoded: Vec<Encoded> = jobs.iter().map(|j| pieces(j).clone()).collect();
                let input = BertInput::from_encoded(&encoded, *pad, device);
                let logits = model.forward(input).map_err(|e| e.to_string())?;
                Ok(rows(logits).into_iter().map(Output::Logits).collect())
            }
            Served::Rnn(model, batcher) => {
                let examples: Vec<Example> = (jobs.iter())
                    .map(|j| match j {
                        Job::Words(ids) => Example {
                            ids: ids.clone(),
                            label: 0,
                            target: Vec::new(),
                            tags: Vec::new(),
                        },
                        other => unreachable!("the RNN classifier ran {other:?}"),
                    })
                    .collect();
                let batch = batcher.collate::<B>(&examples.iter().collect::<Vec<_>>(), device);
                let logits = model.forward(batch.input_ids, &batch.lengths).logits;
                Ok(rows(logits).into_iter().map(Output::Logits).collect())
            }
            Served::Tagger(tagger, layout) => {
                let texts: Vec<&str> = (jobs.iter())
                    .map(|j| match j {
                        Job::Tag(text) => text.as_str(),
                        other => unreachable!("a tagger ran {other:?}"),
                    })
                    .collect();
                let tagged =
                    tag_texts(tagger, &texts, *layout, device).map_err(|e| e.to_string())?;
                Ok(tagged.into_iter().map(Output::Tagged).collect())
            }
            Served::Encoder(model, pad) => {
                let encoded: Vec<Encoded> = jobs.iter().map(|j| pieces(j).clone()).collect();
                let input = BertInput::from_encoded(&encoded, *pad, device);
                let mask = input.attention_mask.clone();
                let hidden = model.token_states(input).map_err(|e| e.to_string())?;
                let [b, _, h] = hidden.dims();
                let pooled = |how: EmbedPooling| match how {
                    EmbedPooling::Mean => rows(mean_pool(hidden.clone(), mask.clone())),
                    EmbedPooling::Cls => rows(hidden.clone().narrow(1, 0, 1).reshape([b, h])),
                };
                let wants = |how| {
                    jobs.iter()
                        .any(|j| matches!(j, Job::Embed(_, p) if *p == how))
                };
                let mean = wants(EmbedPooling::Mean).then(|| pooled(EmbedPooling::Mean));
                let cls = wants(EmbedPooling::Cls).then(|| pooled(EmbedPooling::Cls));
                Ok((jobs.iter().enumerate())
                    .map(|(i, j)| {
                        let from = match j {
                            Job::Embed(_, EmbedPooling::Cls) => &cls,
                            _ => &mean,
                        };
                        Output::Embedding(from.as_ref().expect("pooled")[i].clone())
                    })
                    .collect())
            }
            Served::Translator(loaded) => {
                let asked: Vec<(&str, usize)> = (jobs.iter())
                    .map(|j| match j {
                        Job::Translate(text, beam) => (text.as_str(), *beam),
                        other => unreachable!("a translator ran {other:?}"),
                    })
                    .collect();
                // One decoding per beam width asked for.
                let mut out = vec![None; jobs.len()];
                let mut beams: Vec<usize> = asked.iter().map(|a| a.1).collect();
                beams.sort_unstable();
                beams.dedup();
                for beam in beams {
                    let rows: Vec<usize> =
                        (0..asked.len()).filter(|&i| asked[i].1 == beam).collect();
                    let texts: Vec<&str> = rows.iter().map(|&i| asked[i].0).collect();
                    let done = translate_texts(loaded, &texts, Some(beam), texts.len(), device);
                    for (i, t) in rows.into_iter().zip(done) {
                        out[i] = Some(Output::Translated(t));
                    }
                }
                Ok(out.into_iter().map(|o| o.expect("translated")).collect())
            }
        }
    }
}

/// A BERT job's word pieces.
fn pieces(job: &Job) -> &Encoded {
    match job {
        Job::Classify(e) | Job::Embed(e, _) => e,
        other => unreachable!("a BERT model ran {other:?}"),
    }
}

/// Rows of a [n, d] tensor.
fn rows<B: Backend>(t: Tensor<B, 2>) -> Vec<Vec<f32>> {
    let [n, d] = t.dims();
    let flat: Vec<f32> = t.into_data().convert::<f32>().to_vec().expect("f32 data");
    (0..n).map(|i| flat[i * d..(i + 1) * d].to_vec()).collect()
}
