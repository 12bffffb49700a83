//! A labelled matrix of weights in [0, 1] drawn as a PNG, with its colour scale.

use std::path::Path;

use anyhow::{Result, anyhow};
use attn_train::register_font;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A matrix of weights with labelled rows and columns.
pub struct Heatmap {
    /// Drawn above the matrix.
    pub title: String,
    /// One label per row, drawn at its left.
    pub rows: Vec<String>,
    /// One label per column, drawn below it, turned to read downwards.
    pub columns: Vec<String>,
    /// `values[row][column]`, each in [0, 1].
    pub values: Vec<Vec<f32>>,
    /// Grey levels, black at 0 to white at 1, as Bahdanau et al.'s Fig. 3 (else white to blue).
    pub grey: bool,
}

/// Outer margin in pixels.
const PAD: u32 = 8;
/// Gap between a label and its cells.
const GAP: u32 = 6;
/// Width of one cell.
const CELL_W: u32 = 26;
/// Width of the colour scale's bar.
const SCALE_W: u32 = 14;
/// The scale's ticks.
const TICKS: [(f32, &str); 3] = [(0.0, "0"), (0.5, "0.5"), (1.0, "1")];

fn title_font() -> FontDesc<'static> {
    ("sans-serif", 16).into_font()
}

fn label_font() -> FontDesc<'static> {
    ("sans-serif", 13).into_font()
}

/// Where everything goes, from the measured sizes of the labels.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    /// Canvas width and height.
    size: (u32, u32),
    /// Top-left corner of the matrix.
    origin: (u32, u32),
    /// Cell width and height.
    cell: (u32, u32),
    /// Top of the column labels.
    columns_top: u32,
    /// Top-left corner and height of the colour scale's bar.
    scale: (u32, u32, u32),
}

impl Layout {
    /// Lays out `h`, `measure` giving the (width, height) of a text in the label font.
    fn new(h: &Heatmap, measure: impl Fn(&str, &FontDesc) -> (u32, u32)) -> Self {
        let label = label_font();
        let widest = |texts: &mut dyn Iterator<Item = &str>| {
            texts.map(|t| measure(t, &label).0).max().unwrap_or(0)
        };
        let row_labels = widest(&mut h.rows.iter().map(String::as_str));
        // Column labels read downwards: their width is the height they take.
        let column_labels = widest(&mut h.columns.iter().map(String::as_str));
        let ticks = widest(&mut TICKS.iter().map(|t| t.1));
        let (title_w, title_h) = measure(&h.title, &title_font());
        let square = h.rows.len() > 1 && h.rows.len() == h.columns.len();
        let cell = (CELL_W, if square { CELL_W } else { 18 });
        let origin = (PAD + row_labels + GAP, PAD + title_h + GAP + 4);
        let matrix = (
            h.columns.len() as u32 * cell.0,
            h.rows.len() as u32 * cell.1,
        );
        let columns_top = origin.1 + matrix.1 + GAP;
        let scale_h = matrix.1.max(120);
        let scale = (origin.0 + matrix.0 + 3 * GAP, origin.1, scale_h);
        let label_h = measure("0", &label).1;
        let width = (scale.0 + SCALE_W + GAP + ticks + PAD).max(origin.0 + title_w + PAD);
        let height = (columns_top + column_labels).max(origin.1 + scale_h + label_h) + PAD;
        Self {
            size: (width, height),
            origin,
            cell,
            columns_top,
            scale,
        }
    }
}

/// The colour of weight `v`: white at 0 to dark blue at 1, or with `grey` black at 0 to white
/// at 1.
fn colour(v: f32, grey: bool) -> RGBColor {
    let t = v.clamp(0.0, 1.0) as f64;
    if grey {
        let level = (255.0 * t).round() as u8;
        return RGBColor(level, level, level);
    }
    RGBColor(
        (255.0 * (1.0 - 0.9 * t)) as u8,
        (255.0 * (1.0 - 0.7 * t)) as u8,
        255 - (80.0 * t) as u8,
    )
}

/// Draws `h` into a PNG at `path`: cells coloured by weight on a fixed 0-to-1 scale (drawn at the
/// right), row labels at the left, column labels below, each whole, in the bundled font.
pub fn draw(h: &Heatmap, path: &Path) -> Result<()> {
    // Plotters reports a file it cannot create as a debug dump: try it first.
    std::fs::File::create(path).map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
    register_font();
    let layout = Layout::new(h, |text, font| font.box_size(text).unwrap_or((0, 0)));
    let root = BitMapBackend::new(path, layout.size).into_drawing_area();
    let fail = |e: DrawingAreaErrorKind<_>| anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(fail)?;
    let (x0, y0) = (layout.origin.0 as i32, layout.origin.1 as i32);
    let (cw, ch) = (layout.cell.0 as i32, layout.cell.1 as i32);
    root.draw(&Text::new(
        h.title.clone(),
        (x0, PAD as i32),
        title_font().color(&BLACK),
    ))
    .map_err(fail)?;
    for (r, row) in h.values.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            let (x, y) = (x0 + c as i32 * cw, y0 + r as i32 * ch);
            let cell = Rectangle::new(
                [(x, y), (x + cw - 1, y + ch - 1)],
                colour(v, h.grey).filled(),
            );
            root.draw(&cell).map_err(fail)?;
        }
    }
    let label = label_font().color(&BLACK);
    for (r, text) in h.rows.iter().enumerate() {
        let at = (x0 - GAP as i32, y0 + r as i32 * ch + ch / 2);
        let style = label.pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(text.clone(), at, style))
            .map_err(fail)?;
    }
    for (c, text) in h.columns.iter().enumerate() {
        let at = (x0 + c as i32 * cw + cw / 2, layout.columns_top as i32);
        let style = label
            .transform(FontTransform::Rotate90)
            .pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(text.clone(), at, style))
            .map_err(fail)?;
    }
    let (sx, sy, sh) = (
        layout.scale.0 as i32,
        layout.scale.1 as i32,
        layout.scale.2 as i32,
    );
    for y in 0..sh {
        let v = 1.0 - y as f32 / (sh - 1).max(1) as f32;
        // A filled rectangle covers its end corner's row and column exclusively.
        let line = Rectangle::new(
            [(sx, sy + y), (sx + SCALE_W as i32, sy + y + 1)],
            colour(v, h.grey).filled(),
        );
        root.draw(&line).map_err(fail)?;
    }
    let frame = [(sx, sy), (sx + SCALE_W as i32 - 1, sy + sh - 1)];
    root.draw(&Rectangle::new(frame, BLACK.stroke_width(1)))
        .map_err(fail)?;
    for (v, text) in TICKS {
        let y = sy + ((1.0 - v) * (sh - 1) as f32).round() as i32;
        let style = label.pos(Pos::new(HPos::Left, VPos::Center));
        let at = (sx + SCALE_W as i32 + GAP as i32, y);
        root.draw(&Text::new(text, at, style)).map_err(fail)?;
    }
    root.present().map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heatmap(columns: &[&str]) -> Heatmap {
        let n = columns.len();
        Heatmap {
            title: "layer 0, head 0".into(),
            rows: columns.iter().map(|c| c.to_string()).collect(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            values: (0..n)
                .map(|r| (0..n).map(|c| ((r + c) % n) as f32 / n as f32).collect())
                .collect(),
            grey: false,
        }
    }

    /// Rows of `path` (RGBA or RGB) as (width, height, pixel getter).
    fn read_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
        let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = info.color_type.samples();
        let pixels = buf[..info.buffer_size()]
            .chunks(channels)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        (info.width, info.height, pixels)
    }

    #[test]
    fn every_label_fits_the_canvas_whole() {
        register_font();
        let h = heatmap(&["[CLS]", "wall", "st", ".", "bears", "claw", "[SEP]"]);
        let layout = Layout::new(&h, |t, f| f.box_size(t).unwrap());
        let label = label_font();
        let widest = |texts: &[String]| {
            texts
                .iter()
                .map(|c| label.box_size(c).unwrap().0)
                .max()
                .unwrap()
        };
        let longest_column = widest(&h.columns);
        assert!(
            layout.columns_top + longest_column + PAD <= layout.size.1,
            "{layout:?}"
        );
        assert!(widest(&h.rows) + PAD + GAP <= layout.origin.0, "{layout:?}");
        assert!(layout.scale.0 + SCALE_W + label.box_size("0.5").unwrap().0 < layout.size.0);

        // Drawn: no ink reaches the canvas's edge (a cut label would), and the bar runs from
        // the colour of 1 at its top to white (0) at its bottom.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.png");
        draw(&h, &path).unwrap();
        let (w, height, pixels) = read_png(&path);
        assert_eq!((w, height), layout.size);
        let at = |x: u32, y: u32| pixels[(y * w + x) as usize];
        for x in 0..w {
            for y in [0, height - 1] {
                assert_eq!(at(x, y), [255; 3], "ink at the edge ({x}, {y})");
            }
        }
        for y in 0..height {
            for x in [0, w - 1] {
                assert_eq!(at(x, y), [255; 3], "ink at the edge ({x}, {y})");
            }
        }
        let mid = layout.scale.0 + SCALE_W / 2;
        let top = at(mid, layout.scale.1 + 1);
        let bottom = at(mid, layout.scale.1 + layout.scale.2 - 2);
        let c1 = colour(1.0, false);
        let near = |a: u8, b: u8| a.abs_diff(b) <= 3;
        assert!(
            near(top[0], c1.0) && near(top[1], c1.1) && near(top[2], c1.2),
            "{top:?}"
        );
        assert!(bottom.iter().all(|&v| v >= 250), "{bottom:?}");
        // The column label `wall` is drawn below its column.
        let column = layout.origin.0 + CELL_W + CELL_W / 2;
        let inked = (layout.columns_top..height)
            .filter(|&y| (column - 8..column + 8).any(|x| at(x, y) != [255; 3]))
            .count();
        assert!(
            inked > 10,
            "the column label `wall` is not drawn ({inked} rows)"
        );
    }
}
