//! Fused CPU kernels for BERT, and the burn ops that run them.
//!
//! [`cpu`] holds the kernels themselves: plain f32 slices in and out, parallel over rows (rayon),
//! vectorised for the CPU at hand (multiversion), matrix products through `gemm`. [`fused`] holds
//! the ops the models call: generic over the burn backend, they run the kernels on `Flex` and
//! `Autodiff<Flex>` and burn's own ops everywhere else. Every `unsafe` of the workspace's
//! libraries is in this crate, each with its reason.

pub mod cpu;
pub mod fused;
