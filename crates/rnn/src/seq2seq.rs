//! `Seq2Seq`: the RNN encoder-decoder of Bahdanau, Cho & Bengio (2015) — a bidirectional GRU
//! reads the source, a GRU decoder writes the translation, attending over every encoder state
//! at every step — or, with `attention: false`, of Cho et al. (2014), whose decoder sees only
//! the encoder's final state.

use attn_kernels::fused::{self, AttentiveDecoderInputs};
use burn::module::Module;
use burn::nn::gru::GruConfig;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::AdditiveAttention;
use crate::recurrent::{Recurrent, StepWeights, bidirectional};

/// Sizes of an encoder-decoder; saved with a trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seq2SeqConfig {
    /// Source words (id 0 is padding).
    pub source_vocab: usize,
    /// Target words (id 0 is padding).
    pub target_vocab: usize,
    /// Width of the word embeddings (source and target).
    pub embed_dim: usize,
    /// Hidden width of each encoder direction.
    pub encoder_hidden: usize,
    /// Hidden width of the decoder.
    pub decoder_hidden: usize,
    /// Width of the attention's alignment layer.
    pub attention_dim: usize,
    /// Dropout on the embeddings.
    pub dropout: f64,
    /// Additive attention over the encoder states (false: the final state only, Cho et al.).
    pub attention: bool,
    /// In training, the share of decoder steps fed the true previous word (teacher forcing);
    /// the others read the model's own best guess.
    pub teacher_forcing: f64,
    /// Width of the deep output's maxout layer between the features and the word scores
    /// (Bahdanau et al.'s t̃, of pairs' maxima); 0: the scores straight from the features.
    #[serde(default)]
    pub maxout: usize,
}

/// A bidirectional GRU encoder, a GRU decoder and, between them, additive attention.
#[derive(Module, Debug)]
pub struct Seq2Seq<B: Backend> {
    /// Source word embeddings.
    pub source_embedding: Embedding<B>,
    /// Target word embeddings (the decoder's previous word).
    pub target_embedding: Embedding<B>,
    /// The encoder's left-to-right recurrence.
    pub forward_rnn: Recurrent<B>,
    /// The encoder's right-to-left recurrence.
    pub backward_rnn: Recurrent<B>,
    /// The decoder's first state: tanh(W [final forward; final backward]).
    pub bridge: Linear<B>,
    /// Attention from the decoder state over the encoder states (none: Cho et al. 2014).
    pub attention: Option<AdditiveAttention<B>>,
    /// The decoder, fed [previous word; context].
    pub decoder: Recurrent<B>,
    /// The deep output's maxout layer: [decoder state; context; previous word] to 2 × maxout
    /// values, of which each pair's larger is kept (none: the features score words directly).
    pub readout: Option<Linear<B>>,
    /// Word scores from the maxout layer, or from [decoder state; context; previous word].
    pub output: Linear<B>,
    /// Dropout on the embeddings.
    pub dropout: Dropout,
    /// The share of training steps fed the true previous word.
    pub teacher_forcing: f64,
}

/// The encoder's view of a batch of sources, read by every decoder step.
#[derive(Debug, Clone)]
pub struct Encoded<B: Backend> {
    /// The states hᵢ [batch, seq, 2 × encoder_hidden].
    pub states: Tensor<B, 3>,
    /// U hᵢ, projected once per sentence [batch, seq, attention_dim] (with attention).
    pub keys: Option<Tensor<B, 3>>,
    /// The real tokens of each source row.
    pub lengths: Vec<usize>,
    /// The final states [batch, 2 × encoder_hidden] (forward at the end, backward at the start).
    pub summary: Tensor<B, 2>,
    /// The decoder's first state [batch, decoder_hidden].
    pub initial: Tensor<B, 2>,
}

/// One decoder step: the new state and the context it read.
#[derive(Debug, Clone)]
pub struct DecoderStep<B: Backend> {
    /// The decoder state after the step [batch, decoder_hidden].
    pub state: Tensor<B, 2>,
    /// The attention weights over the source [batch, seq] (none without attention).
    pub weights: Option<Tensor<B, 2>>,
    /// What the step read of the source [batch, 2 × encoder_hidden]: the attention's context,
    /// or the encoder's final states.
    pub context: Tensor<B, 2>,
}

/// Which rows a teacher-forced batch advances at each step (longest target first: a prefix),
/// and where each step's rows start among all steps' (one more: their total).
#[derive(Debug, Clone)]
struct Schedule {
    active: Vec<usize>,
    starts: Vec<usize>,
}

/// A decoded sentence: its words (without start and end tokens) and, with attention, the
/// weights over the source positions that produced each word (the end token's row last).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Translation {
    /// Target word ids.
    pub tokens: Vec<u32>,
    /// One row per output word and one for the end token, each over the source's tokens
    /// (empty without attention).
    pub alignment: Vec<Vec<f32>>,
    /// The sum of the words' log-probabilities (the end token's included).
    pub log_prob: f32,
}

/// The special target ids decoding needs, and how long it may run.
#[derive(Debug, Clone, Copy)]
pub struct Decoding {
    /// The start token every translation begins with.
    pub bos: u32,
    /// The end token.
    pub eos: u32,
    /// At most this many words per translation (the end token not counted).
    pub max_words: usize,
}

impl Seq2SeqConfig {
    /// A freshly initialised model.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Seq2Seq<B> {
        let encoded = 2 * self.encoder_hidden;
        let gru = |d_in, hidden| Recurrent::Gru(GruConfig::new(d_in, hidden, true).init(device));
        let features = self.decoder_hidden + encoded + self.embed_dim;
        Seq2Seq {
            source_embedding: EmbeddingConfig::new(self.source_vocab, self.embed_dim).init(device),
            target_embedding: EmbeddingConfig::new(self.target_vocab, self.embed_dim).init(device),
            forward_rnn: gru(self.embed_dim, self.encoder_hidden),
            backward_rnn: gru(self.embed_dim, self.encoder_hidden),
            bridge: LinearConfig::new(encoded, self.decoder_hidden).init(device),
            attention: self.attention.then(|| {
                AdditiveAttention::new(self.decoder_hidden, encoded, self.attention_dim, device)
            }),
            decoder: gru(self.embed_dim + encoded, self.decoder_hidden),
            readout: (self.maxout > 0)
                .then(|| LinearConfig::new(features, 2 * self.maxout).init(device)),
            output: LinearConfig::new(
                if self.maxout > 0 {
                    self.maxout
                } else {
                    features
                },
                self.target_vocab,
            )
            .init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            teacher_forcing: self.teacher_forcing,
        }
    }
}

impl<B: Backend> Seq2Seq<B> {
    /// Encodes `source_ids` [batch, seq] whose rows hold `lengths` real tokens.
    pub fn encode(&self, source_ids: Tensor<B, 2, Int>, lengths: &[usize]) -> Encoded<B> {
        let x = fused::embedding(self.source_embedding.weight.val(), source_ids);
        let x = fused::dropout(x, self.dropout.prob);
        let (states, summary) = bidirectional(&self.forward_rnn, &self.backward_rnn, x, lengths);
        let keys = self
            .attention
            .as_ref()
            .map(|a| a.project_keys(states.clone()));
        let initial = fused::tanh(self.bridge.forward(summary.clone()));
        Encoded {
            states,
            keys,
            lengths: lengths.to_vec(),
            summary,
            initial,
        }
    }

    /// The embeddings of target words `ids` [batch, steps] -> [batch, steps, embed_dim].
    pub fn embed_targets(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let x = fused::embedding(self.target_embedding.weight.val(), ids);
        fused::dropout(x, self.dropout.prob)
    }

    /// The decoder's weights laid out for a run of steps (once per batch or sentence), the
    /// previous word's and the context's input transforms cut apart.
    pub fn decoder_weights(&self) -> StepWeights<B> {
        let d = self.target_embedding.weight.dims()[1];
        let context = self.bridge.weight.dims()[0];
        self.decoder
            .step_weights()
            .expect("Seq2SeqConfig::init makes the decoder a standard GRU")
            .with_blocks(&[0..d, d..d + context])
    }

    /// The previous words' share of the decoder's input projection, its bias included: `words`
    /// [rows, embed_dim] -> [rows, 3 × decoder_hidden] (for all steps at once where they are
    /// known: teacher forcing).
    pub fn word_inputs(&self, decoder: &StepWeights<B>, words: Tensor<B, 2>) -> Tensor<B, 2> {
        let d = words.dims()[1];
        decoder.project(words, 0..d) + decoder.input_bias().unsqueeze()
    }

    /// One decoder step from `state` having read the previous word, given as its
    /// [`Seq2Seq::word_inputs`] [batch, 3 × decoder_hidden]: attend with the state, then advance
    /// it on [word; context].
    pub fn step(
        &self,
        encoded: &Encoded<B>,
        decoder: &StepWeights<B>,
        word_inputs: Tensor<B, 2>,
        state: Tensor<B, 2>,
    ) -> DecoderStep<B> {
        let (context, weights) = match (&self.attention, &encoded.keys) {
            (Some(attention), Some(keys)) => {
                let (context, weights) = attention.attend(
                    state.clone(),
                    keys,
                    encoded.states.clone(),
                    &encoded.lengths,
                );
                (context, Some(weights))
            }
            _ => (encoded.summary.clone(), None),
        };
        let d = self.target_embedding.weight.dims()[1];
        let inputs = word_inputs + decoder.project(context.clone(), d..d + context.dims()[1]);
        DecoderStep {
            state: decoder.step(inputs, state),
            weights,
            context,
        }
    }

    /// What words are scored on: [state; context; previous word], each [rows, ·] -> [rows,
    /// features].
    pub fn features(
        &self,
        state: Tensor<B, 2>,
        context: Tensor<B, 2>,
        word: Tensor<B, 2>,
    ) -> Tensor<B, 2> {
        Tensor::cat(vec![state, context, word], 1)
    }

    /// The decoder's features at the real positions of `inputs` [batch, longest] (teacher
    /// forcing: the true previous word at each step), row `r` reading its first `steps[r]`
    /// words. Where `forced[t]` is false, step t reads the model's own best word of step t - 1
    /// instead (scheduled sampling).
    ///
    /// The rows are taken longest target first, so that at each step the rows still decoding
    /// are a prefix: a step computes those rows only, not the padding of finished ones. The
    /// features [Σ steps, features] come back in that order, step by step, with the position of
    /// each in row-by-row order (row 0's `steps[0]` positions first): where its label is among
    /// the batch's labels.
    pub fn teacher_forced(
        &self,
        encoded: &Encoded<B>,
        inputs: Tensor<B, 2, Int>,
        steps: &[usize],
        forced: &[bool],
    ) -> (Tensor<B, 2>, Vec<usize>) {
        self.forced_features(encoded, inputs, steps, forced, true)
    }

    /// [`Seq2Seq::teacher_forced`], through the fused decoder op where it runs when `fuse` is
    /// set, else one step after another.
    fn forced_features(
        &self,
        encoded: &Encoded<B>,
        inputs: Tensor<B, 2, Int>,
        steps: &[usize],
        forced: &[bool],
        fuse: bool,
    ) -> (Tensor<B, 2>, Vec<usize>) {
        let [batch, longest] = inputs.dims();
        let device = inputs.device();
        let mut order: Vec<usize> = (0..batch).collect();
        order.sort_by_key(|&r| std::cmp::Reverse(steps[r]));
        // Step t decodes the first `active[t]` rows of `order`, found from `starts[t]` on among
        // all steps' rows (step by step).
        let active: Vec<usize> = (0..longest)
            .map(|t| order.iter().take_while(|&&r| steps[r] > t).count())
            .take_while(|&n| n > 0)
            .collect();
        let mut starts = vec![0];
        for n in &active {
            starts.push(starts[starts.len() - 1] + n);
        }
        let ids = |rows: Vec<usize>| {
            let count = rows.len();
            let rows = rows.into_iter().map(|r| r as i64).collect();
            Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [count]), &device)
        };
        let encoded = rows(encoded, ids(order.clone()), &order);
        // The previous words of every step at once: one embedding and one product.
        let step_by_step: Vec<usize> = active
            .iter()
            .enumerate()
            .flat_map(|(t, &n)| order[..n].iter().map(move |&r| r * longest + t))
            .collect();
        let words_in = self.embed_targets(
            inputs
                .reshape([batch * longest])
                .select(0, ids(step_by_step))
                .unsqueeze_dim(0),
        );
        let d = words_in.dims()[2];
        let words_in = words_in.reshape([starts[active.len()], d]);
        let decoder = self.decoder_weights();
        let forced_inputs = self.word_inputs(&decoder, words_in.clone());
        let forced_inputs = match fuse && !samples(forced, active.len()) {
            true => self.attentive(&encoded, &decoder, forced_inputs, &active),
            false => Err(forced_inputs),
        };
        let schedule = Schedule { active, starts };
        let features = match forced_inputs {
            Ok(decoded) => Tensor::cat(vec![decoded, words_in], 1),
            Err(forced_inputs) => self.stepwise(
                encoded,
                &decoder,
                [words_in, forced_inputs],
                &schedule,
                forced,
            ),
        };
        // Each step-by-step row's place in row-by-row order.
        let mut row_starts = vec![0; batch];
        for r in 1..batch {
            row_starts[r] = row_starts[r - 1] + steps[r - 1];
        }
        let positions = (schedule.active.iter().enumerate())
            .flat_map(|(t, &n)| order[..n].iter().map(move |&r| (t, r)))
            .map(|(t, r)| row_starts[r] + t)
            .collect();
        (features, positions)
    }

    /// The teacher-forced decoder with attention as one fused op (attn-kernels on Flex): the
    /// states beside the contexts [Σ steps, decoder_hidden + context], step by step, from the
    /// previous words' input projections; those back where the op does not run.
    fn attentive(
        &self,
        encoded: &Encoded<B>,
        decoder: &StepWeights<B>,
        forced_inputs: Tensor<B, 2>,
        active: &[usize],
    ) -> Result<Tensor<B, 2>, Tensor<B, 2>> {
        let (Some(attention), Some(keys)) = (&self.attention, &encoded.keys) else {
            return Err(forced_inputs);
        };
        let d = self.target_embedding.weight.dims()[1];
        let (wh, bh) = decoder.recurrent();
        let inputs = AttentiveDecoderInputs {
            forced: forced_inputs,
            state0: encoded.initial.clone(),
            wq: attention.query.weight.val(),
            keys: keys.clone(),
            v: attention.score.weight.val(),
            values: encoded.states.clone(),
            wc: decoder.input_rows(d..d + encoded.states.dims()[2]),
            wh,
            bh,
        };
        fused::attentive_decoder(inputs, &encoded.lengths, active).map_err(|i| i.forced)
    }

    /// The teacher-forced decoder one step after another (scheduled sampling, and backends
    /// without the fused op): the features [Σ steps, features], step by step, from the previous
    /// words' embeddings and input projections [Σ steps, ·].
    fn stepwise(
        &self,
        mut encoded: Encoded<B>,
        decoder: &StepWeights<B>,
        [words_in, forced_inputs]: [Tensor<B, 2>; 2],
        schedule: &Schedule,
        forced: &[bool],
    ) -> Tensor<B, 2> {
        let Schedule { active, starts } = schedule;
        let d = words_in.dims()[1];
        // With every step forced, the previous words of the features are `words_in` as it is.
        let sampled = samples(forced, active.len());
        let mut state = encoded.initial.clone();
        let (mut states, mut contexts, mut words) = (vec![], vec![], vec![]);
        for (t, &n) in active.iter().enumerate() {
            if n < state.dims()[0] {
                encoded = narrow(&encoded, n);
                state = state.narrow(0, 0, n);
            }
            let own = t > 0 && !forced.get(t).copied().unwrap_or(true);
            let (word, word_inputs) = match (own, states.last(), contexts.last(), words.last()) {
                (true, Some(state), Some(context), Some(word)) => {
                    let previous = self
                        .features(
                            Tensor::clone(state),
                            Tensor::clone(context),
                            Tensor::clone(word),
                        )
                        .narrow(0, 0, n);
                    let best = self.logits(previous).argmax(1);
                    let word = self.embed_targets(best).reshape([n, d]);
                    (Some(word.clone()), self.word_inputs(decoder, word))
                }
                _ => (
                    sampled.then(|| words_in.clone().narrow(0, starts[t], n)),
                    forced_inputs.clone().narrow(0, starts[t], n),
                ),
            };
            let step = self.step(&encoded, decoder, word_inputs, state);
            state = step.state.clone();
            states.push(step.state);
            contexts.push(step.context);
            words.extend(word);
        }
        let words = match sampled {
            true => Tensor::cat(words, 0),
            false => words_in,
        };
        let [states, contexts] = [states, contexts].map(|t| Tensor::cat(t, 0));
        self.features(states, contexts, words)
    }

    /// Word scores [rows, target_vocab] of decoder features [rows, features].
    pub fn logits(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        let Some(readout) = &self.readout else {
            return dense(&self.output, features);
        };
        let rows = features.dims()[0];
        let pairs = dense(readout, features);
        let width = pairs.dims()[1] / 2;
        let kept = pairs
            .reshape([rows, width, 2])
            .max_dim(2)
            .reshape([rows, width]);
        dense(&self.output, kept)
    }

    /// Greedy decoding of a batch of sources: at each step the most likely word, until the end
    /// token or `decoding.max_words`.
    pub fn greedy(
        &self,
        source_ids: Tensor<B, 2, Int>,
        lengths: &[usize],
        decoding: Decoding,
    ) -> Vec<Translation> {
        let batch = lengths.len();
        let encoded = self.encode(source_ids, lengths);
        let decoder = self.decoder_weights();
        let mut state = encoded.initial.clone();
        let mut previous = vec![decoding.bos; batch];
        let mut out: Vec<Translation> = (0..batch).map(|_| Translation::default()).collect();
        let mut done = vec![false; batch];
        for at in 0..=decoding.max_words {
            let (step, log_probs) = self.decode_step(&encoded, &decoder, &previous, state);
            let weights = step.weights.clone().map(host);
            let vocab = log_probs.len() / batch;
            for row in 0..batch {
                if done[row] {
                    continue;
                }
                let scores = &log_probs[row * vocab..(row + 1) * vocab];
                let best = argmax(scores);
                let t = &mut out[row];
                t.log_prob += scores[best];
                if let Some(w) = &weights {
                    t.alignment.push(source_row(w, row, lengths));
                }
                // The last step ends every translation (its word is not kept).
                done[row] = best as u32 == decoding.eos || at == decoding.max_words;
                if !done[row] {
                    t.tokens.push(best as u32);
                }
                previous[row] = best as u32;
            }
            if done.iter().all(|&d| d) {
                break;
            }
            state = step.state;
        }
        out
    }

    /// Beam search over a batch of sources [batch, seq] whose rows hold `lengths` real tokens,
    /// row b ending by `decodings[b]`: for each source the `beam` best partial translations are
    /// kept at each step; a finished one is ranked by its log-probability per word (the end token
    /// counted), and the best of those is returned. Every source's hypotheses decode together,
    /// one batch per step; each source's search is the one it would have alone. A beam of 1 is
    /// greedy decoding.
    pub fn beam_search(
        &self,
        source_ids: Tensor<B, 2, Int>,
        lengths: &[usize],
        beam: usize,
        decodings: &[Decoding],
    ) -> Vec<Translation> {
        let beam = beam.max(1);
        let device = source_ids.device();
        let encoded = self.encode(source_ids, lengths);
        let decoder = self.decoder_weights();
        let batch = lengths.len();
        let index = |rows: &[usize]| {
            let rows: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
            let n = rows.len();
            Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [n]), &device)
        };
        let mut alive: Vec<Vec<Translation>> = vec![vec![Translation::default()]; batch];
        let mut finished: Vec<Vec<Translation>> = vec![Vec::new(); batch];
        // The source of each decoding row: the searches still open, each its hypotheses in turn.
        let mut sources: Vec<usize> = (0..batch).collect();
        let mut state = encoded.initial.clone();
        let mut previous: Vec<u32> = decodings.iter().map(|d| d.bos).collect();
        for at in 0.. {
            let reading = rows(&encoded, index(&sources), &sources);
            let (step, log_probs) = self.decode_step(&reading, &decoder, &previous, state);
            let weights = step.weights.clone().map(host);
            let vocab = log_probs.len() / sources.len();
            let (mut parents, mut next_sources) = (Vec::new(), Vec::new());
            previous.clear();
            let (mut first, mut open) = (0, sources.clone());
            open.dedup();
            for source in open {
                let hypotheses = std::mem::take(&mut alive[source]);
                let decoding = decodings[source];
                let mut candidates: Vec<(f32, usize, usize)> = Vec::new();
                for (row, hypothesis) in (first..).zip(&hypotheses) {
                    let scores = &log_probs[row * vocab..(row + 1) * vocab];
                    for word in top_k(scores, beam) {
                        candidates.push((hypothesis.log_prob + scores[word], row, word));
                    }
                }
                // Best first; ties keep the earlier row and the smaller word id, as greedy does.
                candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
                let mut next = Vec::new();
                for (log_prob, row, word) in candidates.into_iter().take(beam) {
                    let mut hypothesis = hypotheses[row - first].clone();
                    hypothesis.log_prob = log_prob;
                    if let Some(w) = &weights {
                        hypothesis
                            .alignment
                            .push(source_row(w, row, &reading.lengths));
                    }
                    // The last step ends every hypothesis (its word is not kept).
                    if word as u32 == decoding.eos || at == decoding.max_words {
                        finished[source].push(hypothesis);
                    } else {
                        hypothesis.tokens.push(word as u32);
                        next.push(hypothesis);
                        parents.push(row);
                    }
                }
                first += hypotheses.len();
                match finished[source].len() >= beam || next.is_empty() {
                    // A closed search keeps its last hypotheses, for a source without a finished one.
                    true => {
                        parents.truncate(parents.len() - next.len());
                        alive[source] = hypotheses;
                    }
                    false => {
                        previous.extend(next.iter().map(|h| *h.tokens.last().expect("a word")));
                        next_sources.extend(std::iter::repeat_n(source, next.len()));
                        alive[source] = next;
                    }
                }
            }
            if parents.is_empty() {
                break;
            }
            state = step.state.select(0, index(&parents));
            sources = next_sources;
        }
        let per_word = |t: &Translation| t.log_prob / (t.tokens.len() + 1) as f32;
        (finished.into_iter().zip(alive))
            .map(|(finished, alive)| {
                let pool = if finished.is_empty() { alive } else { finished };
                pool.into_iter()
                    .max_by(|a, b| per_word(a).total_cmp(&per_word(b)))
                    .expect("a hypothesis")
            })
            .collect()
    }

    /// One step of decoding from the `previous` word of each row: the step, and the next word's
    /// log-probabilities on the host [rows × target_vocab].
    fn decode_step(
        &self,
        encoded: &Encoded<B>,
        decoder: &StepWeights<B>,
        previous: &[u32],
        state: Tensor<B, 2>,
    ) -> (DecoderStep<B>, Vec<f32>) {
        let word = self.embed_words(previous, &state.device());
        let step = self.step(
            encoded,
            decoder,
            self.word_inputs(decoder, word.clone()),
            state,
        );
        let features = self.features(step.state.clone(), step.context.clone(), word);
        let log_probs = host(log_softmax(self.logits(features), 1));
        (step, log_probs)
    }

    /// The embeddings of one word per row [rows, embed_dim].
    fn embed_words(&self, words: &[u32], device: &B::Device) -> Tensor<B, 2> {
        let ids: Vec<i64> = words.iter().map(|&w| w as i64).collect();
        let ids = Tensor::from_data(TensorData::new(ids, [words.len(), 1]), device);
        self.embed_targets(ids)
            .reshape([words.len(), self.target_embedding.weight.dims()[1]])
    }
}

/// `layer` applied to `x` [rows, d_in] through the fused linear op (the bias added in the product's
/// output, its gradient in one pass).
fn dense<B: Backend>(layer: &Linear<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    fused::linear(x, layer.weight.val(), layer.bias.as_ref().map(|b| b.val()))
}

/// Whether any of `steps` steps after the first reads the model's own word (`forced[t]` false;
/// steps past `forced` are forced).
fn samples(forced: &[bool], steps: usize) -> bool {
    (1..steps).any(|t| !forced.get(t).copied().unwrap_or(true))
}

/// The rows `index` of `encoded` (`order` on the host).
fn rows<B: Backend>(encoded: &Encoded<B>, index: Tensor<B, 1, Int>, order: &[usize]) -> Encoded<B> {
    Encoded {
        states: encoded.states.clone().select(0, index.clone()),
        keys: encoded.keys.clone().map(|k| k.select(0, index.clone())),
        lengths: order.iter().map(|&r| encoded.lengths[r]).collect(),
        summary: encoded.summary.clone().select(0, index.clone()),
        initial: encoded.initial.clone().select(0, index),
    }
}

/// The first `rows` rows of `encoded`.
fn narrow<B: Backend>(encoded: &Encoded<B>, rows: usize) -> Encoded<B> {
    Encoded {
        states: encoded.states.clone().narrow(0, 0, rows),
        keys: encoded.keys.clone().map(|k| k.narrow(0, 0, rows)),
        lengths: encoded.lengths[..rows].to_vec(),
        summary: encoded.summary.clone().narrow(0, 0, rows),
        initial: encoded.initial.clone().narrow(0, 0, rows),
    }
}

/// A tensor's values on the host.
fn host<B: Backend>(t: Tensor<B, 2>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().expect("float data")
}

/// Row `row` of weights [rows, seq], cut to that source's length.
fn source_row(weights: &[f32], row: usize, lengths: &[usize]) -> Vec<f32> {
    let seq = weights.len() / lengths.len();
    weights[row * seq..row * seq + lengths[row]].to_vec()
}

/// The index of the largest score (the first of equal ones).
fn argmax(scores: &[f32]) -> usize {
    top_k(scores, 1)[0]
}

/// The indices of the `k` largest scores, largest first (ties: the smaller index first).
fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut best: Vec<usize> = Vec::with_capacity(k + 1);
    for (i, &s) in scores.iter().enumerate() {
        if best.len() == k && s <= scores[best[k - 1]] {
            continue;
        }
        let at = best.partition_point(|&j| scores[j] >= s);
        best.insert(at, i);
        best.truncate(k);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn model(attention: bool) -> Seq2Seq<Flex> {
        config(attention).init(&Default::default())
    }

    fn config(attention: bool) -> Seq2SeqConfig {
        Seq2SeqConfig {
            source_vocab: 12,
            target_vocab: 10,
            embed_dim: 6,
            encoder_hidden: 5,
            decoder_hidden: 7,
            attention_dim: 4,
            dropout: 0.0,
            attention,
            teacher_forcing: 1.0,
            maxout: if attention { 3 } else { 0 },
        }
    }

    fn ids(rows: Vec<i64>, shape: [usize; 2]) -> Tensor<Flex, 2, Int> {
        Tensor::from_data(TensorData::new(rows, shape), &Default::default())
    }

    const DECODING: Decoding = Decoding {
        bos: 2,
        eos: 3,
        max_words: 8,
    };

    #[test]
    fn extra_source_padding_changes_nothing() {
        let m = model(true);
        let short = m.greedy(ids(vec![4, 5, 6], [1, 3]), &[3], DECODING);
        let padded = m.greedy(ids(vec![4, 5, 6, 0, 0, 0], [1, 6]), &[3], DECODING);
        assert_eq!(short[0].tokens, padded[0].tokens);
        for (a, b) in short[0].alignment.iter().zip(&padded[0].alignment) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
            }
        }
        let encoded = m.encode(ids(vec![4, 5, 6, 0, 0, 0], [1, 6]), &[3]);
        let (step, _) = m.decode_step(
            &encoded,
            &m.decoder_weights(),
            &[2],
            encoded.initial.clone(),
        );
        let w = host(step.weights.expect("attention"));
        assert!(w[3..].iter().all(|&x| x == 0.0), "{w:?}");
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn a_batch_decodes_as_its_rows_alone_and_every_row_sums_to_one() {
        let m = model(true);
        let batch = m.greedy(ids(vec![4, 5, 6, 7, 8, 0], [2, 3]), &[3, 2], DECODING);
        let second = m.greedy(ids(vec![7, 8], [1, 2]), &[2], DECODING);
        assert_eq!(batch[1].tokens, second[0].tokens);
        assert!((batch[1].log_prob - second[0].log_prob).abs() < 1e-4);
        for t in &batch {
            assert_eq!(t.alignment.len(), t.tokens.len() + 1);
            for row in &t.alignment {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
            }
        }
        assert!(batch.iter().all(|t| t.tokens.len() <= DECODING.max_words));
    }

    #[test]
    fn a_beam_of_one_is_greedy() {
        for attention in [true, false] {
            let m = model(attention);
            let source = || ids(vec![4, 9, 6, 11], [1, 4]);
            let greedy = m.greedy(source(), &[4], DECODING).remove(0);
            let one = m.beam_search(source(), &[4], 1, &[DECODING]).remove(0);
            assert_eq!(one.tokens, greedy.tokens);
            assert!((one.log_prob - greedy.log_prob).abs() < 1e-4);
            assert_eq!(one.alignment.is_empty(), !attention);
            // Beam search does not promise a better score with a wider beam, only a translation.
            let wide = m.beam_search(source(), &[4], 4, &[DECODING]).remove(0);
            assert!(wide.tokens.len() <= DECODING.max_words);
            assert!(wide.log_prob.is_finite() && wide.log_prob <= 0.0);
        }
    }

    #[test]
    fn the_fused_decoder_equals_the_step_by_step_one_with_its_gradients() {
        type Ad = burn::backend::Autodiff<Flex>;
        let device = Default::default();
        let m: Seq2Seq<Ad> = config(true).init(&device);
        let source = Tensor::from_data(
            TensorData::new(vec![4_i64, 5, 6, 7, 8, 0, 9, 10, 11, 0, 0, 0], [3, 4]),
            &device,
        );
        let targets = Tensor::from_data(
            TensorData::new(vec![2_i64, 4, 5, 2, 0, 0, 2, 6, 0], [3, 3]),
            &device,
        );
        let run = |fuse: bool| {
            let encoded = m.encode(source.clone(), &[4, 2, 3]);
            let (features, positions) =
                m.forced_features(&encoded, targets.clone(), &[3, 1, 2], &[true; 3], fuse);
            let [rows, width] = features.dims();
            let weights = (0..rows * width).map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0);
            let weights = Tensor::from_data(
                TensorData::new(weights.collect::<Vec<_>>(), [rows, width]),
                &device,
            );
            let grads = (features.clone() * weights).sum().backward();
            let of =
                |p: &burn::module::Param<Tensor<Ad, 2>>| host(p.grad(&grads).expect("a gradient"));
            let attention = m.attention.as_ref().expect("attention");
            let decoder = match &m.decoder {
                Recurrent::Gru(g) => g,
                Recurrent::Lstm(_) => unreachable!("the decoder is a GRU"),
            };
            let gradients = [
                of(&attention.query.weight),
                of(&attention.key.weight),
                of(&attention.score.weight),
                of(&decoder.new_gate.hidden_transform.weight),
                of(&decoder.update_gate.input_transform.weight),
                of(&m.bridge.weight),
                of(&m.target_embedding.weight),
                of(&m.source_embedding.weight),
            ];
            (host(features.inner()), positions, gradients)
        };
        let before = fused::taken(fused::Op::AttentiveDecoder);
        let (fused_out, fused_positions, fused_grads) = run(true);
        assert!(fused::taken(fused::Op::AttentiveDecoder) > before);
        let (out, positions, grads) = run(false);
        assert_eq!(fused_positions, positions);
        let close = |a: &[f32], b: &[f32]| {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
            }
        };
        close(&fused_out, &out);
        for (a, b) in fused_grads.iter().zip(&grads) {
            close(a, b);
        }
    }

    #[test]
    fn a_batch_of_searches_finds_what_each_finds_alone() {
        for attention in [true, false] {
            let m = model(attention);
            let sources = [vec![4, 9, 6, 11], vec![7, 8], vec![5, 5, 10]];
            let longest = 4;
            let mut padded = Vec::new();
            for s in &sources {
                padded.extend(s.iter().chain(std::iter::repeat(&0)).take(longest));
            }
            let lengths: Vec<usize> = sources.iter().map(Vec::len).collect();
            // Each source its own cap, as `attn eval` gives them.
            let decodings: Vec<Decoding> = (lengths.iter())
                .map(|&l| Decoding {
                    max_words: 2 * l,
                    ..DECODING
                })
                .collect();
            let batch = m.beam_search(ids(padded, [3, longest]), &lengths, 3, &decodings);
            for (i, source) in sources.iter().enumerate() {
                let alone = m.beam_search(
                    ids(source.clone(), [1, source.len()]),
                    &lengths[i..=i],
                    3,
                    &decodings[i..=i],
                );
                assert_eq!(batch[i].tokens, alone[0].tokens, "source {i}");
                assert!((batch[i].log_prob - alone[0].log_prob).abs() < 1e-4);
                assert_eq!(batch[i].alignment.len(), alone[0].alignment.len());
                for (a, b) in batch[i].alignment.iter().zip(&alone[0].alignment) {
                    assert_eq!(a.len(), lengths[i]);
                    assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5));
                }
                assert!(batch[i].tokens.len() <= decodings[i].max_words);
            }
        }
    }

    #[test]
    fn top_k_is_sorted_and_breaks_ties_by_index() {
        assert_eq!(top_k(&[0.1, 0.5, 0.5, -1.0, 0.7], 3), [4, 1, 2]);
        assert_eq!(argmax(&[2.0, 2.0]), 0);
    }
}
