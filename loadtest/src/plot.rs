//! PNG plots: latency and throughput over time for each run, and latency and relay CPU
//! against participants for a suite.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::report::{Report, RunReport, file_safe};

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a system TrueType font for the plots' text, once. `false` if none was found.
fn font() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        for p in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(p) {
                // The font data must live as long as the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

fn err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// Latency (p50, p99) and throughput (delivered bit/s, relay egress datagrams/s) per second.
fn run_plot(path: &Path, run: &RunReport) -> Result<(), String> {
    let root = BitMapBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let (upper, lower) = root.split_vertically(350);
    let n = run.per_second.len().max(1) as f64;
    let max_latency = run
        .per_second
        .iter()
        .map(|r| r.latency.p99_ms)
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&upper)
        .caption(
            format!("{}: end-to-end latency", run.spec.name),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n, 0f64..max_latency)
        .map_err(|e| err(path, e))?;
    chart
        .configure_mesh()
        .x_desc("second")
        .y_desc("ms")
        .draw()
        .map_err(|e| err(path, e))?;
    for (label, color, pick) in [
        (
            "p50",
            BLUE,
            (|r: &crate::report::SecondRow| r.latency.p50_ms) as fn(&_) -> f64,
        ),
        ("p99", RED, |r| r.latency.p99_ms),
    ] {
        chart
            .draw_series(LineSeries::new(
                run.per_second.iter().map(|r| (r.second as f64, pick(r))),
                color.stroke_width(2),
            ))
            .map_err(|e| err(path, e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(path, e))?;

    let max_pps = run
        .per_second
        .iter()
        .filter_map(|r| r.relay.as_ref().map(|s| s.datagrams_out_per_s))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&lower)
        .caption("relay egress", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n, 0f64..max_pps)
        .map_err(|e| err(path, e))?;
    chart
        .configure_mesh()
        .x_desc("second")
        .y_desc("datagrams/s")
        .draw()
        .map_err(|e| err(path, e))?;
    chart
        .draw_series(LineSeries::new(
            run.per_second.iter().filter_map(|r| {
                r.relay
                    .as_ref()
                    .map(|s| (r.second as f64, s.datagrams_out_per_s))
            }),
            GREEN.stroke_width(2),
        ))
        .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))
}

/// p99 latency and relay CPU against participants, one point per run.
fn suite_plot(path: &Path, report: &Report) -> Result<(), String> {
    let root = BitMapBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let (upper, lower) = root.split_vertically(350);
    let points = |pick: fn(&RunReport) -> Option<f64>| -> Vec<(f64, f64)> {
        let mut v: Vec<(f64, f64)> = report
            .runs
            .iter()
            .filter_map(|r| pick(r).map(|y| (r.overall.participants as f64, y)))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    };
    let max_x = report
        .runs
        .iter()
        .map(|r| r.overall.participants as f64)
        .fold(1.0, f64::max)
        * 1.1;
    for (area, title, unit, pick) in [
        (
            &upper,
            "p99 latency against participants",
            "ms",
            (|r: &RunReport| Some(r.overall.latency.p99_ms)) as fn(&RunReport) -> Option<f64>,
        ),
        (&lower, "relay CPU against participants", "cores", |r| {
            r.relay_usage.cpu_cores_mean
        }),
    ] {
        let pts = points(pick);
        let max_y = pts.iter().map(|p| p.1).fold(0.01, f64::max) * 1.2;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..max_x, 0f64..max_y)
            .map_err(|e| err(path, e))?;
        chart
            .configure_mesh()
            .x_desc("participants")
            .y_desc(unit)
            .draw()
            .map_err(|e| err(path, e))?;
        chart
            .draw_series(LineSeries::new(pts.clone(), BLUE.stroke_width(2)))
            .map_err(|e| err(path, e))?;
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))
            .map_err(|e| err(path, e))?;
    }
    root.present().map_err(|e| err(path, e))
}

/// Writes the plots into `dir`; returns the files written. Without a TrueType font on the
/// system no plot can be labelled: none is written and the error says so.
pub fn write(dir: &Path, report: &Report) -> Result<Vec<PathBuf>, String> {
    if !font() {
        return Err(
            "no TrueType font found (e.g. the fonts-dejavu-core package): plots skipped".into(),
        );
    }
    let mut written = Vec::new();
    for (i, r) in report.runs.iter().enumerate() {
        let path = dir.join(format!("run-{}-{}.png", i + 1, file_safe(&r.spec.name)));
        run_plot(&path, r)?;
        written.push(path);
    }
    if report.runs.len() > 1 {
        let path = dir.join("suite.png");
        suite_plot(&path, report)?;
        written.push(path);
    }
    Ok(written)
}
