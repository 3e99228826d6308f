//! The recall–QPS chart (PNG): one curve per profile, QPS on a log scale, each point labelled
//! with its setting; exact scans appear as single points at their recall.

use crate::report::Results;
use anyhow::{anyhow, bail, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::OnceLock;

/// Fonts for labels, rendered by ab_glyph (no system font library needed at build time).
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
];

fn register_font() -> Result<()> {
    static DONE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = FONT_PATHS
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .ok_or_else(|| {
                format!(
                    "no font for chart labels (looked for {}): install fonts-dejavu-core",
                    FONT_PATHS.join(", ")
                )
            })?;
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes.leak())
            .map_err(|_| "the chart font could not be parsed".to_string())
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

const COLORS: [RGBColor; 6] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

pub fn write_png(results: &Results, path: &Path) -> Result<()> {
    register_font()?;
    let points: Vec<(f64, f64)> = results
        .runs
        .iter()
        .flat_map(|r| r.points.iter().map(|p| (p.recall, p.qps)))
        .collect();
    if points.is_empty() {
        bail!("nothing to plot");
    }
    let min_recall = points.iter().map(|p| p.0).fold(1.0, f64::min);
    let x0 = ((min_recall - 0.02) * 50.0).floor() / 50.0;
    let qmin = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let qmax = points.iter().map(|p| p.1).fold(0.0, f64::max);

    let root = BitMapBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let d = &results.dataset;
    let caption = format!(
        "{} ({} × {}d, {}), recall@{} vs QPS, {} client(s)",
        d.name,
        d.rows,
        d.dim,
        d.metric.name(),
        d.k,
        results.clients
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0.max(0.0)..1.005f64, (qmin * 0.7..qmax * 1.4).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(format!("recall@{}", d.k))
        .y_desc("queries per second (log scale)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_label_formatter(&|v| format!("{v:.2}"))
        .light_line_style(WHITE)
        .label_style(("sans-serif", 14))
        .draw()?;

    for (i, run) in results.runs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut pts: Vec<(f64, f64, Option<i64>)> = run
            .points
            .iter()
            .map(|p| (p.recall, p.qps, p.value))
            .collect();
        pts.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        let label = run.profile.clone();
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        chart.draw_series(
            pts.iter()
                .map(|p| Circle::new((p.0, p.1), 4, color.filled())),
        )?;
        chart.draw_series(pts.iter().filter_map(|p| {
            p.2.map(|v| {
                Text::new(
                    v.to_string(),
                    (p.0, p.1 * 1.06),
                    ("sans-serif", 12).into_font().color(&color),
                )
            })
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}
