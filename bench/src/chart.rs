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

/// More colours for the filtered chart's configurations (the first six are [`COLORS`]).
const MORE_COLORS: [RGBColor; 4] = [
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

fn color(i: usize) -> RGBColor {
    let all: Vec<RGBColor> = COLORS.iter().chain(&MORE_COLORS).copied().collect();
    all[i % all.len()]
}

/// The filtered run's chart (`--filter`): one panel per workload, QPS (log) by selectivity
/// (log; a tenant workload's point sits at its mean selectivity), one line per extension ×
/// configuration: colour by search setting (exact, ef_search × iterative mode), solid without and
/// dashed with the btree indexes, circles for ruvector and triangles for pgvector, filled where
/// recall ≥ 0.9 and hollow below.
pub fn write_filter_png(results: &Results, path: &Path) -> Result<()> {
    use crate::filter_report::{ConfigSet, BEST_MIN_RECALL};
    use crate::profile::Extension;
    register_font()?;
    let Some(f) = &results.filtered else {
        bail!("not a filtered run");
    };
    if f.measurements.is_empty() {
        bail!("nothing to plot");
    }
    // Colours by search setting, the same with and without btree indexes.
    let setting = |c: &crate::filter_report::Configuration| {
        let mut plain = c.clone();
        plain.set = ConfigSet::Plain;
        plain
    };
    let mut configs = Vec::new();
    let mut settings = Vec::new();
    let mut exts = Vec::new();
    for m in &f.measurements {
        if !configs.contains(&m.configuration) {
            configs.push(m.configuration.clone());
        }
        if !settings.contains(&setting(&m.configuration)) {
            settings.push(setting(&m.configuration));
        }
        if !exts.contains(&m.extension) {
            exts.push(m.extension);
        }
    }
    let x_of = |p: usize| {
        let pt = &f.points[p];
        pt.target_selectivity.unwrap_or(pt.mean_selectivity)
    };
    let workloads = &f.settings.workloads;
    let (w, h) = (1400u32, 460 * workloads.len() as u32);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    let d = &results.dataset;
    for (row, area) in workloads
        .iter()
        .zip(root.split_evenly((workloads.len(), 1)))
    {
        let (plot, legend) = area.split_horizontally(1000);
        let ms: Vec<_> = f
            .measurements
            .iter()
            .filter(|m| m.workload == *row)
            .collect();
        if ms.is_empty() {
            continue;
        }
        let xs: Vec<f64> = ms.iter().map(|m| x_of(m.point)).collect();
        let (x0, x1) = (
            xs.iter().copied().fold(f64::INFINITY, f64::min) / 2.0,
            xs.iter().copied().fold(0.0, f64::max) * 2.0,
        );
        let (q0, q1) = (
            ms.iter().map(|m| m.qps).fold(f64::INFINITY, f64::min) * 0.7,
            ms.iter().map(|m| m.qps).fold(0.0, f64::max) * 1.4,
        );
        let caption = format!(
            "{}: {} ({} × {}d, {}), QPS by selectivity, {} queries per point, {} client(s)",
            row.name(),
            d.name,
            d.rows,
            d.dim,
            d.metric.name(),
            f.settings.queries_per_point,
            results.clients
        );
        let mut chart = ChartBuilder::on(&plot)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d((x0..x1).log_scale(), (q0..q1).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("share of rows matching the filter (log scale)")
            .y_desc("queries per second (log scale)")
            .x_label_formatter(&|v| crate::filter::percent(*v))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(WHITE)
            .label_style(("sans-serif", 13))
            .draw()?;
        for c in &configs {
            let col = color(settings.iter().position(|s| *s == setting(c)).unwrap());
            for &e in &exts {
                let mut pts: Vec<(f64, f64, bool)> = ms
                    .iter()
                    .filter(|m| m.extension == e && m.configuration == *c)
                    .map(|m| (x_of(m.point), m.qps, m.recall >= BEST_MIN_RECALL))
                    .collect();
                if pts.is_empty() {
                    continue;
                }
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                let width = if e == Extension::Ruvector { 2 } else { 1 };
                let line = pts.iter().map(|p| (p.0, p.1));
                if c.set == ConfigSet::Btree {
                    chart.draw_series(DashedLineSeries::new(
                        line,
                        8,
                        5,
                        col.stroke_width(width),
                    ))?;
                } else {
                    chart.draw_series(LineSeries::new(line, col.stroke_width(width)))?;
                }
                for &(x, y, good) in &pts {
                    let style = if good {
                        col.filled()
                    } else {
                        col.stroke_width(1)
                    };
                    if e == Extension::Ruvector {
                        chart.draw_series(std::iter::once(Circle::new((x, y), 4, style)))?;
                    } else {
                        chart.draw_series(std::iter::once(TriangleMarker::new(
                            (x, y),
                            5,
                            style,
                        )))?;
                    }
                }
            }
        }
        // The legend beside the panel: the key, then one colour per search setting.
        let font = ("sans-serif", 13).into_font();
        let key = [
            "● ruvector (thick), ▲ pgvector (thin)",
            "solid: no btree, dashed: +btree",
            "filled: recall ≥ 0.9, hollow: below",
        ];
        for (i, k) in key.iter().enumerate() {
            legend.draw(&Text::new(
                k.to_string(),
                (10, 16 + 18 * i as i32),
                font.clone(),
            ))?;
        }
        for (i, s) in settings.iter().enumerate() {
            let y = 84 + 18 * i as i32;
            legend.draw(&PathElement::new(
                vec![(8, y), (28, y)],
                color(i).stroke_width(3),
            ))?;
            legend.draw(&Text::new(s.label(), (34, y - 7), font.clone()))?;
        }
    }
    root.present()?;
    Ok(())
}
