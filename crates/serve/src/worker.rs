//! The worker: the one thread that owns the model. It takes the queued inputs as they come,
//! groups them into batches bounded in tokens and inputs, runs each batch whole where the model
//! packs it (no work on padding) and else in groups of similar length, and answers every input on
//! its own channel.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::Receiver;

use burn::tensor::backend::Backend;
use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::job::{Job, Output};
use crate::metrics::Metrics;
use crate::model::Served;

/// One queued input and where its answer goes.
pub struct Entry {
    /// What to run.
    pub job: Job,
    /// Its length in tokens.
    pub tokens: usize,
    /// Its answer's channel (closed when the client has gone).
    pub reply: oneshot::Sender<Result<Output, ApiError>>,
}

/// How large a batch may grow.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Tokens, padding included (rows x longest).
    pub max_batch_tokens: usize,
    /// Inputs.
    pub max_batch_requests: usize,
}

/// Runs batches from `queue` until every sender is gone (the server has stopped and answered
/// all it accepted).
pub fn work<B: Backend>(
    model: &Served<B>,
    queue: Receiver<Entry>,
    limits: Limits,
    device: &B::Device,
    metrics: &Metrics,
) {
    let mut held: Option<Entry> = None;
    loop {
        let first = match held.take() {
            Some(entry) => entry,
            None => match queue.recv() {
                Ok(entry) => {
                    metrics.queue.dec();
                    entry
                }
                Err(_) => return,
            },
        };
        let mut longest = first.tokens;
        let mut batch = vec![first];
        while batch.len() < limits.max_batch_requests {
            let Ok(next) = queue.try_recv() else { break };
            metrics.queue.dec();
            let wider = longest.max(next.tokens);
            if wider * (batch.len() + 1) > limits.max_batch_tokens {
                held = Some(next);
                break;
            }
            longest = wider;
            batch.push(next);
        }
        // Inputs whose client has gone are not run.
        batch.retain(|e| !e.reply.is_closed());
        run_batch(model, batch, device, metrics);
    }
}

/// The padding bucket of a length: inputs of one bucket run together.
fn bucket(tokens: usize) -> usize {
    tokens.max(16).next_power_of_two()
}

/// Runs `batch` whole where the model packs it, else in groups of one padding bucket, and answers
/// each input; a group that fails or panics answers each of its inputs with the error, and the
/// worker goes on.
fn run_batch<B: Backend>(
    model: &Served<B>,
    mut batch: Vec<Entry>,
    device: &B::Device,
    metrics: &Metrics,
) {
    batch.sort_by_key(|e| e.tokens);
    while !batch.is_empty() {
        let size = bucket(batch[0].tokens);
        let split = (!model.packs())
            .then(|| batch.iter().position(|e| bucket(e.tokens) != size))
            .flatten();
        let rest = batch.split_off(split.unwrap_or(batch.len()));
        let group = std::mem::replace(&mut batch, rest);
        let jobs: Vec<&Job> = group.iter().map(|e| &e.job).collect();
        let longest = group.last().map_or(0, |e| e.tokens);
        metrics.batch_size.observe(group.len() as f64);
        metrics.batch_tokens.observe((group.len() * longest) as f64);
        metrics
            .tokens
            .inc_by(group.iter().map(|e| e.tokens as u64).sum());
        let answers = match catch_unwind(AssertUnwindSafe(|| model.run(&jobs, device))) {
            Ok(Ok(outputs)) => outputs.into_iter().map(Ok).collect(),
            Ok(Err(reason)) => vec![Err(ApiError::backend(reason)); group.len()],
            Err(panic) => vec![Err(ApiError::panicked("the model", &*panic)); group.len()],
        };
        for (entry, answer) in group.into_iter().zip(answers) {
            // A client that went away meanwhile is not an error.
            let _ = entry.reply.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use attn_transformer::BertTokenizer;
    use burn::backend::Flex;
    use tokio::sync::oneshot::Receiver;

    use super::{Entry, Limits, bucket, work};
    use crate::error::ApiError;
    use crate::job::{Job, Output};
    use crate::metrics::Metrics;
    use crate::model::load;

    /// An answer awaited and its input's length in tokens.
    type Waiting = (Receiver<Result<Output, ApiError>>, usize);

    /// Queues `texts` for the tiny BERT classifier (the client of text `gone` leaves at once),
    /// runs the worker until the queue is empty, and returns its metrics and the answers awaited.
    fn work_through(texts: &[&str], gone: Option<usize>) -> (Metrics, Vec<Waiting>) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../transformer/tests/fixtures/tiny-bert-cls");
        let device = Default::default();
        let (model, _) = load::<Flex>(&dir, 32, &device).unwrap();
        assert!(model.packs(), "a BERT on Flex packs its batches");
        let tokenizer = BertTokenizer::from_dir(&dir, 32).unwrap();
        let (queue, inputs) = std::sync::mpsc::channel();
        let mut waiting = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let encoded = tokenizer.encode(text).unwrap();
            let tokens = encoded.ids.len();
            let (reply, answer) = tokio::sync::oneshot::channel();
            let job = Job::Classify(encoded);
            queue.send(Entry { job, tokens, reply }).unwrap();
            match gone == Some(i) {
                true => drop(answer),
                false => waiting.push((answer, tokens)),
            }
        }
        drop(queue);
        let metrics = Metrics::default();
        let limits = Limits {
            max_batch_tokens: 1024,
            max_batch_requests: 8,
        };
        work(&model, inputs, limits, &device, &metrics);
        (metrics, waiting)
    }

    #[test]
    fn inputs_whose_client_has_gone_are_not_run() {
        let texts = ["a short one", "one a client left", "the last one"];
        let (metrics, waiting) = work_through(&texts, Some(1));
        let run: u64 = waiting.iter().map(|(_, n)| *n as u64).sum();
        assert_eq!(
            metrics.tokens.get(),
            run,
            "only the inputs still awaited ran"
        );
        for (mut answer, _) in waiting {
            assert!(answer.try_recv().unwrap().is_ok());
        }
    }

    #[test]
    fn a_bert_on_the_cpu_runs_inputs_of_every_length_as_one_batch() {
        let long =
            "a longer text of many more words than the other one has in it, well past sixteen";
        let (metrics, waiting) = work_through(&["short", long], None);
        assert_ne!(bucket(waiting[0].1), bucket(waiting[1].1));
        let text = metrics.render();
        assert!(text.contains("attn_batch_size_count 1\n"), "{text}");
        for (mut answer, _) in waiting {
            assert!(answer.try_recv().unwrap().is_ok());
        }
    }

    #[test]
    fn lengths_share_a_bucket_up_to_the_next_power_of_two() {
        assert_eq!(bucket(3), 16);
        assert_eq!(bucket(16), 16);
        assert_eq!(bucket(17), 32);
        assert_eq!(bucket(100), 128);
    }
}
