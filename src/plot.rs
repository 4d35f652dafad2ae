//! Scene pictures with plotters: observed tracks, sampled futures (thin, faint), the
//! lowest-energy sample (bold) and the ground truth where known.
//!
//! Both formats carry a title, axes and a legend. The text is drawn with a small
//! subset of DejaVu Sans compiled into the binary (`src/font/`), so PNGs need no system
//! fonts.

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// The family name the charts ask for; registered once with the bundled font.
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("font/DejaVuSans-subset.ttf");

fn register_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("plot: the bundled font does not load"))
    }
}

/// One agent in a panel, world coordinates. `samples` are sorted by energy: the first
/// is the most plausible.
pub struct PlotAgent {
    pub obs: Vec<(f64, f64)>,
    pub truth: Vec<(f64, f64)>,
    pub samples: Vec<Vec<(f64, f64)>>,
}

pub struct Panel {
    pub title: String,
    pub agents: Vec<PlotAgent>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Draws `panels` side by side (up to 3 per row) into an SVG or PNG file, chosen by the
/// extension. The file appears only when drawing succeeded.
pub fn draw(path: &Path, panels: &[Panel]) -> Result<()> {
    if panels.is_empty() {
        return Err(anyhow!("nothing to plot"));
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    register_font()?;
    let cols = panels.len().min(3) as u32;
    let rows = (panels.len() as u32).div_ceil(cols);
    let size = (560 * cols, 560 * rows);
    let tmp = crate::common::temp_beside(path, &format!(".{ext}"))?;
    match ext.as_str() {
        "svg" => {
            let root = SVGBackend::new(tmp.path(), size).into_drawing_area();
            draw_panels(&root, panels, cols)?;
            root.present().map_err(|e| anyhow!("plot: {e}"))?;
        }
        "png" => {
            let root = BitMapBackend::new(tmp.path(), size).into_drawing_area();
            draw_panels(&root, panels, cols)?;
            root.present().map_err(|e| anyhow!("plot: {e}"))?;
        }
        _ => {
            return Err(anyhow!(
                "{}: plot format must be .svg or .png",
                path.display()
            ))
        }
    }
    crate::common::persist(tmp, path)
}

fn bounds(p: &Panel) -> ((f64, f64), (f64, f64)) {
    let mut lo = (f64::INFINITY, f64::INFINITY);
    let mut hi = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for a in &p.agents {
        for &(x, y) in a
            .obs
            .iter()
            .chain(&a.truth)
            .chain(a.samples.iter().flatten())
        {
            lo = (lo.0.min(x), lo.1.min(y));
            hi = (hi.0.max(x), hi.1.max(y));
        }
    }
    if !lo.0.is_finite() {
        return ((-1.0, 1.0), (-1.0, 1.0));
    }
    // Equal scale on both axes, with a margin.
    let c = ((lo.0 + hi.0) / 2.0, (lo.1 + hi.1) / 2.0);
    let half = ((hi.0 - lo.0).max(hi.1 - lo.1) / 2.0).max(0.5) * 1.1;
    ((c.0 - half, c.0 + half), (c.1 - half, c.1 + half))
}

/// The neutral colour of the legend's glyphs (each agent has its own colour).
const LEGEND: RGBColor = RGBColor(70, 70, 70);

fn draw_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Panel],
    cols: u32,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("plot: {e}");
    root.fill(&WHITE).map_err(e)?;
    let rows = (panels.len() as u32).div_ceil(cols);
    let areas = root.split_evenly((rows as usize, cols as usize));
    for (area, p) in areas.iter().zip(panels) {
        let ((x0, x1), (y0, y1)) = bounds(p);
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .caption(&p.title, (FONT, 18))
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("x (m)")
            .y_desc("y (m)")
            .label_style((FONT, 12))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        // The legend is attached to the first agent's series only, drawn in a neutral
        // colour: each entry stands for that kind of line in every agent's colour.
        for (i, a) in p.agents.iter().enumerate() {
            let col = PALETTE[i % PALETTE.len()];
            let first = i == 0;
            let last = a.obs.last().copied();
            let with_origin = |s: &Vec<(f64, f64)>| -> Vec<(f64, f64)> {
                last.into_iter().chain(s.iter().copied()).collect()
            };
            for (j, s) in a.samples.iter().enumerate().skip(1) {
                let series = chart
                    .draw_series(LineSeries::new(
                        with_origin(s),
                        col.mix(0.25).stroke_width(1),
                    ))
                    .map_err(e)?;
                if first && j == 1 {
                    series.label("samples").legend(|(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], LEGEND.mix(0.35).stroke_width(1))
                    });
                }
            }
            if !a.truth.is_empty() {
                let series = chart
                    .draw_series(LineSeries::new(
                        with_origin(&a.truth),
                        BLACK.mix(0.7).stroke_width(2),
                    ))
                    .map_err(e)?;
                if first {
                    series.label("truth").legend(|(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], BLACK.mix(0.7).stroke_width(2))
                    });
                }
                chart
                    .draw_series(
                        a.truth
                            .iter()
                            .map(|&p| Circle::new(p, 2, BLACK.mix(0.7).filled())),
                    )
                    .map_err(e)?;
            }
            if let Some(best) = a.samples.first() {
                let series = chart
                    .draw_series(LineSeries::new(with_origin(best), col.stroke_width(3)))
                    .map_err(e)?;
                if first {
                    series.label("rank-0 sample").legend(|(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], LEGEND.stroke_width(3))
                    });
                }
            }
            let series = chart
                .draw_series(LineSeries::new(
                    a.obs.iter().copied(),
                    col.mix(0.9).stroke_width(2),
                ))
                .map_err(e)?;
            if first {
                series.label("observed").legend(|(x, y)| {
                    EmptyElement::at((x + 9, y)) + Circle::new((0, 0), 3, LEGEND.filled())
                });
            }
            chart
                .draw_series(a.obs.iter().map(|&p| Circle::new(p, 3, col.filled())))
                .map_err(e)?;
        }
        if !p.agents.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font((FONT, 13))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(e)?;
        }
    }
    Ok(())
}
