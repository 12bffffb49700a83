//! A classifier's run: the shared one, with the label map saved first and the test set scored
//! at the end.

use attn_train::{Objective, Result, TrainConfig, TrainJob, show_scores};
use burn::module::{AutodiffModule, ModuleDisplay};
use burn::tensor::backend::AutodiffBackend;

use crate::data::Prepared;
use crate::logits::Classify;
use crate::metrics::EvalReport;
use crate::objective::TextClassification;
use crate::predict::evaluate;

/// Runs `job` (on the prepared data's training and validation rows) for a classifier, saves
/// it with `save`, evaluates it on the test set and writes `run.json`, `labels.json`,
/// `curves.png` and `eval.json` into the run directory; on rank 0 of several only, the others
/// return `None`.
pub(crate) fn fit<B, M>(
    model: M,
    data: &Prepared,
    job: TrainJob<'_, B>,
    save: impl FnOnce(&M::InnerModule) -> Result<()>,
) -> Result<Option<EvalReport>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + ModuleDisplay + 'static,
    M::InnerModule: Classify<B::InnerBackend> + ModuleDisplay,
    TextClassification: Objective<B, M> + Objective<B::InnerBackend, M::InnerModule>,
{
    let (run, pad_id, device) = (job.run, job.pad_id, job.device);
    let observer = job.observer.clone();
    let evaluate = |model: &M::InnerModule, cfg: &TrainConfig| {
        let report = evaluate(model, &data.test, &data.labels, cfg, pad_id, device)?;
        show_scores(&report, Some(run), observer.as_ref())?;
        let summary = serde_json::json!({
            "inference_samples_per_s": report.samples_per_s,
            "test_accuracy": report.test_accuracy,
            "macro_f1": report.macro_f1,
            "test_rows": report.examples,
        });
        Ok((report, summary))
    };
    let labels = || Ok(data.labels.save(&run.join("labels.json"))?);
    attn_train::fit((model, &TextClassification), job, labels, save, evaluate)
}
