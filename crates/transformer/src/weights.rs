//! Named tensors in and out of modules: the readable map between HF weight names and our fields.
//!
//! [`WeightStore`] hands checkpoint tensors to module constructors by name, checks their shapes,
//! records which names were used, and initialises what a checkpoint lacks the way HF does.
//! [`WeightWriter`] collects a module's tensors under HF names for saving.

use std::collections::{BTreeMap, BTreeSet};

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Distribution, Tensor, TensorData, backend::Backend};

use crate::{BertError, Result};

/// How a tensor absent from the checkpoint is initialised (as HF's `_init_weights`).
#[derive(Debug, Clone, Copy)]
enum Init {
    Normal(f64),
    Zeros,
    Ones,
}

/// Tensors by name, handed out to module constructors.
#[derive(Debug, Default)]
pub struct WeightStore {
    tensors: BTreeMap<String, TensorData>,
    prefix: String,
    used: BTreeSet<String>,
    initialized: Vec<String>,
    allow_missing: bool,
    init_std: f64,
}

impl WeightStore {
    /// A store over checkpoint tensors (names as in the file).
    pub fn new(tensors: BTreeMap<String, TensorData>, init_std: f64) -> Self {
        Self {
            tensors,
            init_std,
            ..Self::default()
        }
    }

    /// A store with no tensors, that initialises every parameter randomly (as a fresh HF model).
    pub fn random(init_std: f64) -> Self {
        Self {
            allow_missing: true,
            init_std,
            ..Self::default()
        }
    }

    /// Whether any tensor name starts with `prefix` (as seen through the current name prefix).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        let full = format!("{}{prefix}", self.prefix);
        self.tensors.keys().any(|k| k.starts_with(&full))
    }

    /// Removes every tensor whose full name starts with `prefix` (a head to be re-initialised).
    pub fn forget(&mut self, prefix: &str) {
        self.tensors.retain(|k, _| !k.starts_with(prefix));
    }

    /// Sets a prefix put before every name asked for (`bert.` for full-model checkpoints).
    pub fn set_prefix(&mut self, prefix: &str) {
        self.prefix = prefix.to_string();
    }

    /// Runs `f` with missing tensors initialised instead of failing (for heads a checkpoint may lack).
    pub fn optional<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let before = self.allow_missing;
        self.allow_missing = true;
        let out = f(self);
        self.allow_missing = before;
        out
    }

    /// Checkpoint names that no module took, sorted; `embeddings.position_ids` (a buffer) excluded.
    pub fn unused(&self) -> Vec<String> {
        self.tensors
            .keys()
            .filter(|k| !self.used.contains(*k) && !k.ends_with("embeddings.position_ids"))
            .cloned()
            .collect()
    }

    /// Full names that were freshly initialised because the checkpoint lacks them.
    pub fn initialized(&self) -> &[String] {
        &self.initialized
    }

    /// Takes tensor `name` with `shape`, or initialises it where allowed.
    fn take<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        init: Init,
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let full = format!("{}{name}", self.prefix);
        let found = self.tensors.get_key_value(&full).or_else(|| {
            // Old checkpoints (bert-base-uncased) name LayerNorm parameters gamma/beta.
            let legacy = full
                .strip_suffix("LayerNorm.weight")
                .map(|p| format!("{p}LayerNorm.gamma"))
                .or_else(|| {
                    full.strip_suffix("LayerNorm.bias")
                        .map(|p| format!("{p}LayerNorm.beta"))
                })?;
            self.tensors.get_key_value(&legacy)
        });
        match found {
            Some((key, data)) => {
                if data.shape.as_slice() != shape.as_slice() {
                    return Err(BertError::ShapeMismatch {
                        name: key.clone(),
                        expected: shape.to_vec(),
                        found: data.shape.to_vec(),
                    });
                }
                self.used.insert(key.clone());
                Ok(Tensor::from_data(data.clone(), device))
            }
            None if self.allow_missing => {
                self.initialized.push(full);
                Ok(match init {
                    Init::Normal(std) => {
                        Tensor::random(shape, Distribution::Normal(0.0, std), device)
                    }
                    Init::Zeros => Tensor::zeros(shape, device),
                    Init::Ones => Tensor::ones(shape, device),
                })
            }
            None => Err(BertError::MissingTensor {
                name: full,
                expected: shape.to_vec(),
            }),
        }
    }

    /// A `Linear` from `{prefix}.weight` ([out, in] as PyTorch stores it) and `{prefix}.bias`.
    pub fn linear<B: Backend>(
        &mut self,
        prefix: &str,
        d_in: usize,
        d_out: usize,
        device: &B::Device,
    ) -> Result<Linear<B>> {
        let std = self.init_std;
        let weight: Tensor<B, 2> = self.take(
            &format!("{prefix}.weight"),
            [d_out, d_in],
            Init::Normal(std),
            device,
        )?;
        let bias = self.take(&format!("{prefix}.bias"), [d_out], Init::Zeros, device)?;
        // Laid out [d_in, d_out] in memory too, not as a transposed view that every product of
        // an inference would copy first.
        let weight = Tensor::from_data(weight.transpose().into_data(), device);
        Ok(Linear {
            weight: Param::from_tensor(weight),
            bias: Some(Param::from_tensor(bias)),
        })
    }

    /// A `LayerNorm` from `{prefix}.weight` and `{prefix}.bias` (or `gamma`/`beta`).
    pub fn layer_norm<B: Backend>(
        &mut self,
        prefix: &str,
        d: usize,
        eps: f64,
        device: &B::Device,
    ) -> Result<LayerNorm<B>> {
        let gamma = self.take(&format!("{prefix}.weight"), [d], Init::Ones, device)?;
        let beta = self.take(&format!("{prefix}.bias"), [d], Init::Zeros, device)?;
        let mut norm = LayerNormConfig::new(d).with_epsilon(eps).init(device);
        norm.gamma = Param::from_tensor(gamma);
        norm.beta = Some(Param::from_tensor(beta));
        Ok(norm)
    }

    /// An `Embedding` from `{prefix}.weight`.
    pub fn embedding<B: Backend>(
        &mut self,
        prefix: &str,
        n: usize,
        d: usize,
        device: &B::Device,
    ) -> Result<Embedding<B>> {
        let std = self.init_std;
        let weight = self.take(
            &format!("{prefix}.weight"),
            [n, d],
            Init::Normal(std),
            device,
        )?;
        Ok(Embedding {
            weight: Param::from_tensor(weight),
        })
    }
}

/// Tensors collected from modules under their HF names, for saving.
#[derive(Debug, Default)]
pub struct WeightWriter {
    /// Tensors by full name.
    pub tensors: BTreeMap<String, TensorData>,
}

impl WeightWriter {
    fn put<B: Backend, const D: usize>(&mut self, name: String, tensor: Tensor<B, D>) {
        self.tensors
            .insert(name, tensor.into_data().convert::<f32>());
    }

    /// Writes a `Linear` as `{prefix}.weight` ([out, in]) and `{prefix}.bias`.
    pub fn linear<B: Backend>(&mut self, prefix: &str, linear: &Linear<B>) {
        self.put(format!("{prefix}.weight"), linear.weight.val().transpose());
        if let Some(bias) = &linear.bias {
            self.put(format!("{prefix}.bias"), bias.val());
        }
    }

    /// Writes a `LayerNorm` as `{prefix}.weight` and `{prefix}.bias`.
    pub fn layer_norm<B: Backend>(&mut self, prefix: &str, norm: &LayerNorm<B>) {
        self.put(format!("{prefix}.weight"), norm.gamma.val());
        if let Some(beta) = &norm.beta {
            self.put(format!("{prefix}.bias"), beta.val());
        }
    }

    /// Writes an `Embedding` as `{prefix}.weight`.
    pub fn embedding<B: Backend>(&mut self, prefix: &str, embedding: &Embedding<B>) {
        self.put(format!("{prefix}.weight"), embedding.weight.val());
    }
}
