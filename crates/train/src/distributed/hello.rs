//! What a rank trains, as fingerprints that are the same in every process and build: ranks
//! that differ from rank 0 in any are refused.

use std::hash::{Hash, Hasher};

use attn_data::Example;
use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use crate::config::TrainConfig;

/// One rank's fingerprints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hello {
    /// The rank saying hello.
    pub rank: usize,
    /// Devices on this rank.
    pub devices: usize,
    /// The training settings (less the paths and reporting settings, which may differ).
    pub settings: u64,
    /// The training and validation examples (ids and labels).
    pub data: u64,
    /// The model's parameter shapes.
    pub model: u64,
}

impl Hello {
    /// Words of [`Hello::words`].
    pub const WORDS: usize = 5;

    /// The fingerprints of what this rank trains.
    pub fn of<B: AutodiffBackend, M: AutodiffModule<B>>(
        rank: usize,
        cfg: &TrainConfig,
        (train, validation): (&[Example], &[Example]),
        model: &M,
    ) -> Self {
        Self {
            rank,
            devices: cfg.devices,
            settings: settings_hash(cfg),
            data: data_hash(train, validation),
            model: model_hash(model),
        }
    }

    /// As the words gathered from every rank.
    pub fn words(&self) -> [u64; Self::WORDS] {
        [
            self.rank as u64,
            self.devices as u64,
            self.settings,
            self.data,
            self.model,
        ]
    }

    /// Back from [`Hello::words`].
    pub fn from_words(words: &[u64]) -> Self {
        Self {
            rank: words[0] as usize,
            devices: words[1] as usize,
            settings: words[2],
            data: words[3],
            model: words[4],
        }
    }

    /// What differs between this rank's hello and rank 0's, if anything.
    pub fn differences(&self, leader: &Hello) -> Option<String> {
        let checks = [
            (
                self.devices != leader.devices,
                format!("--devices {} (rank 0: {})", self.devices, leader.devices),
            ),
            (
                self.settings != leader.settings,
                "its training settings".to_string(),
            ),
            (
                self.data != leader.data,
                "its training data (rows, tokens or labels)".to_string(),
            ),
            (
                self.model != leader.model,
                "its model (parameter shapes)".to_string(),
            ),
        ];
        let found: Vec<String> = (checks.into_iter())
            .filter(|(differs, _)| *differs)
            .map(|(_, what)| what)
            .collect();
        (!found.is_empty()).then(|| {
            format!(
                "rank {} differs from rank 0 in {}",
                self.rank,
                found.join(", ")
            )
        })
    }
}

/// A hasher whose output is the same in every process and build (not randomly seeded).
fn stable_hasher() -> impl Hasher {
    // FNV-1a, 64 bits.
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    Fnv(0xcbf2_9ce4_8422_2325)
}

/// The run's settings that must agree between ranks (paths and reporting may differ).
fn settings_hash(cfg: &TrainConfig) -> u64 {
    let mut value = serde_json::to_value(cfg).expect("serializes");
    if let Some(map) = value.as_object_mut() {
        for local in [
            "model",
            "data_dir",
            "eval_limit",
            "eval_batch_size",
            "report_every",
            "checkpoint_every",
            "eval_every",
        ] {
            map.remove(local);
        }
    }
    let mut hasher = stable_hasher();
    value.to_string().hash(&mut hasher);
    hasher.finish()
}

/// The ids, labels and targets of the training and validation examples.
fn data_hash(train: &[Example], validation: &[Example]) -> u64 {
    let mut hasher = stable_hasher();
    for set in [train, validation] {
        set.len().hash(&mut hasher);
        for example in set {
            example.ids.hash(&mut hasher);
            example.label.hash(&mut hasher);
            example.target.hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// The shapes of the model's parameters, in order.
fn model_hash<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M) -> u64 {
    struct Shapes<H>(H);
    impl<B: AutodiffBackend, H: Hasher> ModuleVisitor<B> for Shapes<H> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            param.lazy_shape().dims::<D>().hash(&mut self.0);
        }
    }
    let mut shapes = Shapes(stable_hasher());
    model.visit(&mut shapes);
    shapes.0.finish()
}
