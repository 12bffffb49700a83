//! `--devices N`: data-parallel training on burn-train's `Learner` with its multi-device strategy.
//!
//! burn runs one worker thread per device; each iteration every worker takes its own batch, and
//! the main device sums their gradients and takes one optimizer step. The batches, the learning
//! rate schedule, the optimizer and the report lines are the single-device loop's.

use std::sync::{Arc, Mutex};

use attn_data::{Example, TextBatch, TextBatcher};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::module::{AutodiffModule, Module, ModuleDisplay};
use burn::nn::loss::CrossEntropyLoss;
use burn::optim::lr_scheduler::LrScheduler;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend, DeviceOps};
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric};
use burn::train::{
    ClassificationOutput, ExecutionStrategy, InferenceStep, Learner, MultiDeviceOptim,
    SupervisedTraining, TrainOutput, TrainStep,
};

mod renderer;

use renderer::Reports;

use crate::TrainConfig;
use crate::checkpoint::latest_checkpoint;
use crate::classify::Classify;
use crate::error::{Result, TrainError};
use crate::step::{adamw, cross_entropy};
use crate::train_loop::{TrainJob, batch_at};

/// A classifier as burn-train's learner trains it: a step is the loss and gradients of one batch.
#[derive(Module, Debug)]
pub struct Replica<B: Backend, M> {
    /// The classifier.
    pub model: M,
    /// Scale of each replica's loss, 1 / devices, so the summed gradients are their mean.
    #[module(skip)]
    share: f32,
    /// Layer-wise learning-rate decay of the optimizer step.
    #[module(skip)]
    layer_decay: f64,
    /// The run's loss.
    loss: CrossEntropyLoss<B>,
}

impl<B: Backend, M: Classify<B>> Replica<B, M> {
    /// Logits, loss and labels of `batch`.
    fn classify(&self, batch: &TextBatch<B>) -> ClassificationOutput<B> {
        // burn-train's steps have no error path; a batch the model cannot take (wider than its
        // position table) was refused before the run, when --max-len was checked against it.
        let logits = self.model.logits(batch).unwrap_or_else(|e| panic!("{e}"));
        let loss = self.loss.forward(logits.clone(), batch.labels.clone());
        ClassificationOutput::new(loss.reshape([1]), logits, batch.labels.clone())
    }
}

impl<B, M> TrainStep for Replica<B, M>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classify<B> + ModuleDisplay,
    M::InnerModule: ModuleDisplay,
{
    type Input = TextBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: TextBatch<B>) -> TrainOutput<ClassificationOutput<B>> {
        let output = self.classify(&batch);
        let grads = (output.loss.clone() * self.share).backward();
        TrainOutput::new(self, grads, output)
    }

    /// One optimizer step per gradient group, at `lr * layer_decay^depth`.
    fn optimize<B2, O>(mut self, optim: &mut O, lr: f64, grads: GradientsParams) -> Self
    where
        B2: AutodiffBackend,
        O: Optimizer<Self, B2>,
        Self: AutodiffModule<B2>,
    {
        for (depth, grads) in self.model.grads_by_depth(grads) {
            self = optim.step(lr * self.layer_decay.powi(depth), self, grads);
        }
        self
    }
}

impl<B: Backend, M: Classify<B> + Module<B>> InferenceStep for Replica<B, M> {
    type Input = TextBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: TextBatch<B>) -> ClassificationOutput<B> {
        self.classify(&batch)
    }
}

/// Examples grouped into the batches of a run, in order: one dataset item per batch.
struct Batches(Vec<Vec<Example>>);

impl Dataset<Vec<Example>> for Batches {
    fn get(&self, index: usize) -> Option<Vec<Example>> {
        self.0.get(index).cloned()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Pads each dataset item (a whole batch) to its longest sequence, as the single-device loop does.
#[derive(Clone, Copy)]
struct Collate(TextBatcher);

impl<B: Backend> Batcher<B, Vec<Example>, TextBatch<B>> for Collate {
    fn batch(&self, items: Vec<Vec<Example>>, device: &B::Device) -> TextBatch<B> {
        let items: Vec<&Example> = items.iter().flatten().collect();
        self.0.collate(&items, device)
    }
}

/// The run's learning-rate schedule ([`TrainConfig::lr_at`]) as a burn scheduler.
#[derive(Clone)]
struct Schedule {
    cfg: TrainConfig,
    iteration: usize,
}

impl LrScheduler for Schedule {
    type Record<B: Backend> = usize;

    fn step(&mut self) -> f64 {
        self.iteration += 1;
        self.cfg.lr_at(self.iteration - 1)
    }

    fn to_record<B: Backend>(&self) -> usize {
        self.iteration
    }

    fn load_record<B: Backend>(self, iteration: usize) -> Self {
        Self { iteration, ..self }
    }
}

/// `cfg.devices` devices of the backend of `device`, from its index up (the CPU backends have
/// one device: their replicas share it).
pub fn devices<D: DeviceOps>(device: &D, count: usize) -> Vec<D> {
    (0..count)
        .map(|i| {
            let mut id = device.to_id();
            id.index_id += i as u16;
            D::from_id(id)
        })
        .collect()
}

/// Trains `model` on `examples` data-parallel over `cfg.devices` devices starting at `device`,
/// through burn-train's `SupervisedTraining` with `ExecutionStrategy::MultiDevice`; writes the
/// run's report lines and `metrics.jsonl` as the single-device loop does. Returns the trained
/// model (inference side) and the iterations run.
pub fn train_data_parallel<B, M>(model: M, job: &TrainJob<'_, B>) -> Result<(M::InnerModule, usize)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classify<B> + ModuleDisplay + 'static,
    M::InnerModule: Classify<B::InnerBackend> + ModuleDisplay,
{
    let TrainJob {
        examples,
        validation,
        cfg,
        pad_id,
        run,
        device,
        ..
    } = *job;
    if cfg.ema > 0.0 {
        return Err(TrainError::AverageOnDevices);
    }
    if latest_checkpoint(run)?.is_some() {
        return Err(TrainError::SingleDeviceCheckpoint(run.to_path_buf()));
    }
    let devices = devices(device, cfg.devices);
    let lengths: Vec<usize> = examples.iter().map(|e| e.ids.len()).collect();
    // Worker k of burn's split data loader takes the k-th contiguous share of the batches.
    let batches = (0..cfg.iterations * devices.len())
        .map(|it| {
            let idx = batch_at(it, &lengths, cfg);
            idx.iter().map(|&i| examples[i].clone()).collect()
        })
        .collect();
    let collate = Collate(TextBatcher {
        pad_id,
        max_len: cfg.max_len,
    });
    let train = DataLoaderBuilder::new(collate)
        .batch_size(1)
        .build(Batches(batches));
    let valid_batches = validation
        .chunks(cfg.eval_batch_size.max(1))
        .map(<[Example]>::to_vec)
        .collect();
    let valid = DataLoaderBuilder::new(collate)
        .batch_size(1)
        .build(Batches(valid_batches));

    let replica = Replica {
        model,
        share: 1.0 / devices.len() as f32,
        layer_decay: cfg.layer_decay,
        loss: cross_entropy(cfg, device),
    };
    let schedule = Schedule {
        cfg: cfg.clone(),
        iteration: 0,
    };
    let learner = Learner::new(replica, adamw::<B, Replica<B, M>>(cfg), schedule);
    let failure = Arc::new(Mutex::new(None));
    let training = SupervisedTraining::new(run.join("burn-train"), train, valid)
        .with_application_logger(None)
        .metric_train_numeric(LossMetric::new())
        .metric_train_numeric(AccuracyMetric::new())
        .metric_train_numeric(LearningRateMetric::new())
        .metric_valid_numeric(AccuracyMetric::new())
        .with_training_strategy(
            ExecutionStrategy::MultiDevice(devices.clone(), MultiDeviceOptim::OptimMainDevice)
                .into(),
        )
        .num_epochs(1);
    let interrupter = training.interrupter();
    let observer = job.observer.clone();
    let reports = Reports::new(run, cfg, devices.len(), interrupter, &failure, observer)?;
    let trained = training.renderer(reports).launch(learner).model;
    if let Some(error) = failure.lock().expect("no panic holding it").take() {
        return Err(error);
    }
    Ok((trained.model, cfg.iterations))
}
