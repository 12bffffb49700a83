//! The weight-name tree: a tensor's HF name is its path in the module tree.
//!
//! `bert.encoder.layer.3.attention.self.query.weight` is the field path of that tensor in
//! [`BertForSequenceClassification`](crate::BertForSequenceClassification), so no struct lists its
//! names: [`WeightStore::load`] walks a freshly built module (burn's `ModuleMapper`) and fills
//! each parameter from the checkpoint, and [`hf_tensors`] walks a module (burn's `ModuleVisitor`)
//! to save it. The few places where our fields differ from HF's names are [`hf_segment`]; burn's
//! `Linear` keeps its weight as [in, out] where PyTorch stores [out, in], so a `Linear`'s weight
//! is transposed on the way in and out. The store also checks shapes, records which names were
//! used, and initialises what a checkpoint may lack (the heads) the way HF does.

use std::collections::{BTreeMap, BTreeSet};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Distribution, Tensor, TensorData, backend::Backend};

use crate::{BertError, Result};

/// The prefix of the base model's names in a checkpoint with a head (HF's `base_model_prefix`).
const BASE: &str = "bert.";

/// Heads a checkpoint may lack, initialised afresh as HF does: the pooler and the classifier.
const HEADS: [&str; 2] = ["pooler.", "classifier."];

/// The HF name of a field of our module tree.
fn hf_segment(field: &str) -> &str {
    match field {
        "self_attention" => "self",
        "layer_norm" => "LayerNorm",
        // burn's LayerNorm fields; HF calls them weight and bias (old checkpoints gamma, beta).
        "gamma" => "weight",
        "beta" => "bias",
        field => field,
    }
}

/// Where a walk of the module tree stands: the HF names of the modules entered, and whether
/// each is a field of a burn `Linear`.
#[derive(Debug, Default)]
struct TreePath {
    names: Vec<String>,
    in_linear: Vec<bool>,
}

impl TreePath {
    fn enter(&mut self, field: &str, container: &str) {
        self.names.push(hf_segment(field).to_string());
        self.in_linear.push(container == "Struct:Linear");
    }

    fn exit(&mut self) {
        self.names.pop();
        self.in_linear.pop();
    }

    /// The HF name of the tensor at this point.
    fn name(&self) -> String {
        self.names.join(".")
    }

    /// Whether a tensor of rank `rank` here is stored transposed by PyTorch (a `Linear`'s weight).
    fn transposed(&self, rank: usize) -> bool {
        rank == 2 && self.in_linear.last() == Some(&true)
    }
}

/// How a tensor absent from the checkpoint is initialised (as HF's `_init_weights`).
#[derive(Debug, Clone, Copy)]
enum Init {
    Normal(f64),
    Zeros,
    Ones,
}

impl Init {
    /// HF's rule for the tensor `name`: LayerNorm weights 1, biases 0, the rest normal(0, std).
    fn of(name: &str, std: f64) -> Self {
        if name.ends_with("LayerNorm.weight") {
            Self::Ones
        } else if name.ends_with(".bias") {
            Self::Zeros
        } else {
            Self::Normal(std)
        }
    }
}

/// Tensors by name, handed out to module constructors.
#[derive(Debug, Default)]
pub struct WeightStore {
    tensors: BTreeMap<String, TensorData>,
    /// Whether the checkpoint's base-model names carry [`BASE`] (a model saved with a head).
    prefixed: bool,
    used: BTreeSet<String>,
    initialized: Vec<String>,
    allow_missing: bool,
    init_std: f64,
}

impl WeightStore {
    /// A store over checkpoint tensors (names as in the file).
    pub fn new(tensors: BTreeMap<String, TensorData>, init_std: f64) -> Self {
        Self {
            prefixed: tensors.keys().any(|k| k.starts_with(BASE)),
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

    /// Removes every tensor whose full name starts with `prefix` (a head to be re-initialised).
    pub fn forget(&mut self, prefix: &str) {
        self.tensors.retain(|k, _| !k.starts_with(prefix));
    }

    /// `module` (freshly built, its parameters not yet initialised) with every parameter taken
    /// from the checkpoint under its name in the module tree, or initialised where allowed.
    pub fn load<B: Backend, M: Module<B>>(&mut self, module: M) -> Result<M> {
        let mut fill = Fill {
            store: self,
            path: TreePath::default(),
            error: None,
        };
        let module = module.map(&mut fill);
        match fill.error {
            Some(error) => Err(error),
            None => Ok(module),
        }
    }

    /// The checkpoint's name for the tensor the model calls `name`: the base model's names with
    /// or without [`BASE`], as the checkpoint has them.
    fn checkpoint_name(&self, name: &str) -> String {
        let relative = relative(name);
        if self.prefixed && !relative.starts_with("classifier.") {
            format!("{BASE}{relative}")
        } else {
            relative.to_string()
        }
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

    /// Takes the tensor the model calls `name`, of `shape`, or initialises it where allowed.
    fn take<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let full = self.checkpoint_name(name);
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
            None if self.allow_missing || HEADS.iter().any(|h| relative(name).starts_with(h)) => {
                self.initialized.push(full);
                Ok(match Init::of(name, self.init_std) {
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
}

/// `name` without the base model's prefix.
fn relative(name: &str) -> &str {
    name.strip_prefix(BASE).unwrap_or(name)
}

/// The mapper behind [`WeightStore::load`]: each parameter from the store, by its tree path.
struct Fill<'a> {
    store: &'a mut WeightStore,
    path: TreePath,
    error: Option<BertError>,
}

impl<B: Backend> ModuleMapper<B> for Fill<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if self.error.is_some() {
            return param;
        }
        let mut shape: [usize; D] = param.lazy_shape().dims();
        let transposed = self.path.transposed(D);
        if transposed {
            shape.reverse();
        }
        let device = param.lazy_device();
        match self.store.take::<B, D>(&self.path.name(), shape, &device) {
            // Laid out [d_in, d_out] in memory too, not as a transposed view that every product
            // of an inference would copy first.
            Ok(t) if transposed => {
                Param::from_tensor(Tensor::from_data(t.transpose().into_data(), &device))
            }
            Ok(t) => Param::from_tensor(t),
            Err(error) => {
                self.error = Some(error);
                param
            }
        }
    }
}

/// Every float tensor of `module` under its HF name (a `Linear`'s weight as [out, in]), in f32.
pub fn hf_tensors<B: Backend, M: Module<B>>(module: &M) -> BTreeMap<String, TensorData> {
    let mut collect = Collect {
        path: TreePath::default(),
        tensors: BTreeMap::new(),
    };
    module.visit(&mut collect);
    collect.tensors
}

/// The visitor behind [`hf_tensors`].
struct Collect {
    path: TreePath,
    tensors: BTreeMap<String, TensorData>,
}

impl<B: Backend> ModuleVisitor<B> for Collect {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let tensor = match self.path.transposed(D) {
            true => param.val().transpose(),
            false => param.val(),
        };
        let data = tensor.into_data().convert::<f32>();
        self.tensors.insert(self.path.name(), data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BertConfig, BertForSequenceClassification, BertModel, Pooling};
    use burn::backend::Flex;

    type Classifier = BertForSequenceClassification<Flex>;

    #[test]
    fn the_module_tree_gives_hf_names_and_loads_back_from_them() {
        let c = BertConfig::new(50, 8, 2, 2, 16);
        let model = Classifier::random(&c, 3, Pooling::Mean, &Default::default()).unwrap();
        let tensors = hf_tensors(&model);
        let layer = "bert.encoder.layer.1";
        for name in [
            "bert.embeddings.word_embeddings.weight",
            "bert.embeddings.LayerNorm.weight",
            "bert.embeddings.LayerNorm.bias",
            &format!("{layer}.attention.self.query.weight"),
            &format!("{layer}.attention.output.LayerNorm.bias"),
            &format!("{layer}.intermediate.dense.weight"),
            &format!("{layer}.output.dense.bias"),
            "bert.pooler.dense.weight",
            "classifier.weight",
        ] {
            assert!(tensors.contains_key(name), "{name} in {:?}", tensors.keys());
        }
        assert_eq!(tensors.len(), 5 + 2 * 16 + 2 + 2);
        // PyTorch's [out, in] for a Linear's weight.
        let shape = &tensors[&format!("{layer}.intermediate.dense.weight")].shape;
        assert_eq!(shape.as_slice(), [16, 8]);

        let mut store = WeightStore::new(tensors.clone(), 0.02);
        let back = store.load(Classifier::new(&c, 3, Pooling::Mean, &Default::default()));
        let back = back.unwrap();
        assert!(store.unused().is_empty() && store.initialized().is_empty());
        assert_eq!(hf_tensors(&back), tensors);

        // The bare model from the same (prefixed) names, and a classifier from bare names.
        let mut store = WeightStore::new(tensors.clone(), 0.02);
        let bare = store
            .load(BertModel::<Flex>::new(&c, &Default::default()))
            .unwrap();
        assert_eq!(store.unused(), ["classifier.bias", "classifier.weight"]);
        let bare = hf_tensors(&bare);
        assert!(bare.contains_key("embeddings.word_embeddings.weight"));
        let mut store = WeightStore::new(bare, 0.02);
        store
            .load(Classifier::new(&c, 3, Pooling::Mean, &Default::default()))
            .unwrap();
        assert_eq!(
            store.initialized(),
            ["classifier.weight", "classifier.bias"]
        );
    }
}
