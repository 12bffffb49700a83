//! `--device`: which device of a backend to run on.

use std::fmt;
use std::str::FromStr;

use crate::BackendError;

/// A device as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The backend's default device (wgpu: the adapter wgpu prefers; CUDA: device 0).
    #[default]
    Auto,
    /// The N-th device as `attn backends` lists them.
    Index(usize),
    /// The N-th discrete GPU.
    Discrete(usize),
    /// The N-th integrated GPU.
    Integrated(usize),
    /// The N-th virtual GPU.
    Virtual(usize),
    /// The CPU (wgpu: a software adapter such as Mesa's lavapipe).
    Cpu,
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Index(n) => write!(f, "{n}"),
            Self::Discrete(n) => write!(f, "discrete:{n}"),
            Self::Integrated(n) => write!(f, "integrated:{n}"),
            Self::Virtual(n) => write!(f, "virtual:{n}"),
            Self::Cpu => f.write_str("cpu"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BackendError::BadDevice(s.to_string());
        let s_lower = s.trim().to_ascii_lowercase();
        let number = |n: &str| n.parse::<usize>().map_err(|_| bad());
        match s_lower.split_once(':') {
            None if s_lower == "auto" => Ok(Self::Auto),
            None if s_lower == "cpu" => Ok(Self::Cpu),
            None => number(&s_lower).map(Self::Index),
            Some(("discrete", n)) => number(n).map(Self::Discrete),
            Some(("integrated", n)) => number(n).map(Self::Integrated),
            Some(("virtual", n)) => number(n).map(Self::Virtual),
            Some(_) => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips_and_bad_ones_are_refused() {
        for choice in [
            DeviceChoice::Auto,
            DeviceChoice::Index(2),
            DeviceChoice::Discrete(0),
            DeviceChoice::Integrated(1),
            DeviceChoice::Virtual(3),
            DeviceChoice::Cpu,
        ] {
            assert_eq!(choice.to_string().parse::<DeviceChoice>().unwrap(), choice);
        }
        assert_eq!(
            "Discrete:1".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Discrete(1)
        );
        for bad in ["gpu", "discrete:", "discrete:x", "-1", "npu:0"] {
            let err = bad.parse::<DeviceChoice>().unwrap_err().to_string();
            assert!(err.contains("auto, N, discrete:N"), "{bad}: {err}");
        }
    }
}
