//! The flags that change what an error is about: the libraries say what is wrong, the CLI adds
//! which of its flags or variables to change.

use attn_data::DataError;
use attn_hub::HubError;
use attn_train::TrainError;

/// Prints `error: …` (with its causes) and its hint, if any, to stderr.
pub fn report(error: &anyhow::Error) {
    eprintln!("error: {error:#}");
    if let Some(hint) = hint(error) {
        eprintln!("hint: {hint}");
    }
}

/// A `hint: …` line for `error`, when one of its causes is about a flag.
pub fn hint(error: &anyhow::Error) -> Option<&'static str> {
    error.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<TrainError>() {
            return match e {
                TrainError::Data(e) => data_hint(e),
                TrainError::NonFinite { .. } => Some("try a lower --lr or --grad-clip"),
                TrainError::TooLong { .. } => Some("lower --max-len"),
                TrainError::Precision { .. } => {
                    Some("drop --precision (only `train bert` runs in half precision)")
                }
                TrainError::RanksDiffer(_) => {
                    Some("start every rank with the same flags, data files and attn build")
                }
                TrainError::ResumeMismatch { .. } => {
                    Some("pass the flags the run was started with (its run.json has them)")
                }
                _ => None,
            };
        }
        if let Some(e) = cause.downcast_ref::<DataError>() {
            return data_hint(e);
        }
        match cause.downcast_ref::<HubError>() {
            Some(HubError::DataNotFound { .. }) => Some(
                "point at local files with `--data-dir DIR` or `AG_NEWS_DIR=DIR`, where DIR holds \
                 train.csv and test.csv (class,title,description rows)",
            ),
            _ => None,
        }
    })
}

/// The hint for a data error.
fn data_hint(error: &DataError) -> Option<&'static str> {
    match error {
        DataError::Missing { .. } => Some(
            "fetch AG News with `attn fetch-data`, or point at a directory holding train.csv and \
             test.csv with `--data-dir DIR` / `AG_NEWS_DIR=DIR`",
        ),
        DataError::BadRow { .. } => Some("pass --skip-bad-rows to skip such rows"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_get_the_flag_that_changes_them_wherever_they_sit_in_the_chain() {
        let missing = anyhow::Error::from(DataError::Missing {
            path: "x/train.csv".into(),
        });
        assert!(hint(&missing).unwrap().contains("attn fetch-data"));
        let bad_row = DataError::BadRow {
            path: "x.csv".into(),
            line: 3,
            problem: "no text".into(),
        };
        let nested = anyhow::Error::from(TrainError::Data(bad_row)).context("training");
        assert_eq!(
            hint(&nested),
            Some("pass --skip-bad-rows to skip such rows")
        );
        let too_long = anyhow::Error::from(TrainError::TooLong {
            max_len: 600,
            positions: 512,
        });
        assert_eq!(hint(&too_long), Some("lower --max-len"));
        assert_eq!(hint(&anyhow::anyhow!("something else")), None);
    }
}
