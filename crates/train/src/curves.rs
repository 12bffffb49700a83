//! `curves.png`: training loss and accuracy (and validation accuracy) against iteration.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::error::{Result, TrainError};
use crate::report::Report;

/// DejaVu Sans (a freely licensed font, see `assets/DejaVuSans-LICENSE.txt`), bundled so that
/// pictures render the same on machines without fonts.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Makes the bundled font plotters' `sans-serif`.
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the bundled font is a valid TTF"));
    });
}

/// Draws loss (left) and accuracy (right) against iteration into a PNG at `path`.
pub fn plot_curves(reports: &[Report], validation: &[(usize, f64)], path: &Path) -> Result<()> {
    let fail = |e: String| TrainError::Plot {
        path: path.to_path_buf(),
        reason: e,
    };
    if reports.is_empty() {
        return Ok(());
    }
    register_font();
    let root = BitMapBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let (left, right) = root.split_horizontally(500);
    let last = reports.iter().map(|r| r.iteration).max().unwrap_or(1) as f64;
    let max_loss = reports.iter().map(|r| r.loss).fold(0.0, f64::max) * 1.1;

    let mut chart = axes(&left, "training loss", last, max_loss.max(1e-3)).map_err(fail)?;
    chart
        .draw_series(LineSeries::new(
            reports.iter().map(|r| (r.iteration as f64, r.loss)),
            RED.stroke_width(2),
        ))
        .map_err(|e| fail(e.to_string()))?;

    let mut chart = axes(&right, "accuracy", last, 1.0).map_err(fail)?;
    chart
        .draw_series(LineSeries::new(
            reports
                .iter()
                .map(|r| (r.iteration as f64, r.train_accuracy)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| fail(e.to_string()))?
        .label("train")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE.stroke_width(2)));
    if !validation.is_empty() {
        chart
            .draw_series(LineSeries::new(
                validation.iter().map(|&(i, a)| (i as f64, a)),
                GREEN.stroke_width(2),
            ))
            .map_err(|e| fail(e.to_string()))?
            .label("validation")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], GREEN.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))
}

/// A chart over iterations 0..`x_max` and values 0..`y_max`.
type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws a captioned chart's axes on `area`.
fn axes<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    caption: &str,
    x_max: f64,
    y_max: f64,
) -> std::result::Result<Chart<'a, 'b>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("iteration")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// Reads `metrics.jsonl` and `validation.jsonl` of a run and draws its `curves.png`.
pub fn plot_run(run: &Path) -> Result<()> {
    let read = |name: &str| std::fs::read_to_string(run.join(name)).unwrap_or_default();
    let reports: Vec<Report> = read("metrics.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let validation: Vec<(usize, f64)> = read("validation.jsonl")
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some((
                v["iteration"].as_u64()? as usize,
                v["val_accuracy"].as_f64()?,
            ))
        })
        .collect();
    plot_curves(&reports, &validation, &run.join("curves.png"))
}
