//! `Ema`: an exponential moving average of a model's weights (Polyak averaging), kept beside
//! training and used as the trained model in place of the last weights.

use std::collections::HashMap;

use attn_backend::fused;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};

/// The running average `avg = decay * avg + (1 - decay) * weights` of a model's float parameters,
/// updated after each optimizer step (a horizon of about `1 / (1 - decay)` iterations).
#[derive(Debug, Clone)]
pub struct Ema<M> {
    decay: f64,
    average: M,
}

impl<M> Ema<M> {
    /// An average that starts at `model`'s weights.
    pub fn new(model: M, decay: f64) -> Self {
        Self {
            decay,
            average: model,
        }
    }

    /// The averaged model.
    pub fn model(&self) -> &M {
        &self.average
    }

    /// The averaged model, taken out.
    pub fn into_model(self) -> M {
        self.average
    }

    /// Moves the average one step toward `model`, a model of the same structure and parameter ids
    /// (a later state of the one the average started from).
    pub fn update<B: Backend>(self, model: &M) -> Self
    where
        M: Module<B>,
    {
        let mut weights = Weights(HashMap::new());
        model.visit(&mut weights);
        let mut step = Step {
            weights: weights.0,
            decay: self.decay,
        };
        Self {
            decay: self.decay,
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
        let ema = Ema::new(start.clone(), 0.9).update(&later).update(&later);
        // After two steps toward start + 1: start + 1 - 0.9^2.
        let expected = start.weight.val().add_scalar(1.0 - 0.81);
        ema.model()
            .weight
            .val()
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Default::default());
        let bias = ema.into_model().bias.expect("bias").val();
        let expected = start.bias.expect("bias").val().add_scalar(0.19);
        bias.into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Default::default());
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
