//! `Ema`: an exponential moving average of a model's weights (Polyak averaging), kept beside
//! training and used as the trained model in place of the last weights.

use std::collections::HashMap;

use attn_kernels::fused;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};

/// The running average of a model's float parameters over the optimizer steps, step `i` of `t`
/// weighted by `decay^(t - i)` (a horizon of about `1 / (1 - decay)` iterations). The weights are
/// normalised, as Adam corrects its moments' bias: the starting weights count for nothing and a
/// short run averages its few steps.
#[derive(Debug, Clone)]
pub struct Ema<M> {
    decay: f64,
    updates: usize,
    average: M,
}

impl<M> Ema<M> {
    /// An average of no steps yet, over models shaped as `model` (its weights are replaced by the
    /// first update).
    pub fn new(model: M, decay: f64) -> Self {
        Self::resume(model, decay, 0)
    }

    /// The average `average` of `updates` steps, as saved, continued.
    pub fn resume(average: M, decay: f64, updates: usize) -> Self {
        Self {
            decay,
            updates,
            average,
        }
    }

    /// The averaged model.
    pub fn model(&self) -> &M {
        &self.average
    }

    /// Moves the average one step toward `model`, a model of the same structure and parameter ids
    /// (a later state of the one the average started from).
    pub fn update<B: Backend>(self, model: &M) -> Self
    where
        M: Module<B>,
    {
        let mut weights = Weights(HashMap::new());
        model.visit(&mut weights);
        // With S_t = d S_(t-1) + (1 - d) w_t from S_0 = 0, the average is S_t / (1 - d^t).
        let (d, t) = (self.decay, self.updates as i32 + 1);
        let mut step = Step {
            weights: weights.0,
            decay: d * (1.0 - d.powi(t - 1)) / (1.0 - d.powi(t)),
        };
        Self {
            decay: d,
            updates: self.updates + 1,
            average: self.average.map(&mut step),
        }
    }
}

/// The float parameters of a model, by id.
struct Weights<B: Backend>(HashMap<ParamId, TensorPrimitive<B>>);

impl<B: Backend> ModuleVisitor<B> for Weights<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.insert(param.id, param.val().into_primitive());
    }
}

/// One averaging step: each parameter of the average moves toward the weight of the same id.
struct Step<B: Backend> {
    weights: HashMap<ParamId, TensorPrimitive<B>>,
    decay: f64,
}

impl<B: Backend> ModuleMapper<B> for Step<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let Some(weight) = self.weights.remove(&param.id) else {
            return param;
        };
        let weight = Tensor::<B, D>::from_primitive(weight);
        let decay = self.decay;
        param.map(|average| fused::moving_average(average, weight, decay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::nn::{Linear, LinearConfig};

    type B = Flex;

    #[test]
    fn average_moves_toward_the_weights_by_one_minus_decay() {
        let device = Default::default();
        // Mapped once so that the lazily initialised parameters are drawn before cloning.
        let start: Linear<B> = LinearConfig::new(3, 2).init(&device).map(&mut Shift(0.0));
        let later = start.clone().map(&mut Shift(1.0));
        let ema = Ema::resume(start.clone(), 0.9, 10)
            .update(&later)
            .update(&later);
        // Two steps of weight 0.9 and 1 after ten at `start`, normalised by 1 - 0.9^12.
        let shift = (0.9 + 1.0) * 0.1 / (1.0 - 0.9f64.powi(12));
        let expected = start.weight.val().add_scalar(shift);
        ema.model()
            .weight
            .val()
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Default::default());
        let bias = ema.model().bias.clone().expect("bias").val();
        let expected = start.bias.clone().expect("bias").val().add_scalar(shift);
        bias.into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Default::default());
        // A fresh average is the first step's weights, whatever it started from.
        Ema::new(start, 0.99)
            .update(&later)
            .model()
            .weight
            .val()
            .into_data()
            .assert_approx_eq::<f32>(&later.weight.val().into_data(), Default::default());
    }

    /// Adds a constant to every float parameter, keeping ids.
    struct Shift(f64);

    impl ModuleMapper<B> for Shift {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let shift = self.0;
            param.map(|t| t.add_scalar(shift))
        }
    }
}
