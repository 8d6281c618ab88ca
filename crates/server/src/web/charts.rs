//! The dashboard's charts, drawn as SVG by `plotters` (SVG backend only) from computed
//! [`Trends`]. Each chart is returned as an `<svg>` string marked up as an image labelled
//! by its figure caption; the page puts the same numbers in a table for screen readers.
//!
//! The pain chart draws exactly one circle per day with pain data (the daily mean), a
//! triangle for the day's maximum, the 7-day rolling mean as a line broken where days
//! have no data, and each care-plan event (drug started, stopped, dose changed,
//! intervention, PT prescribed) as a labelled vertical line. Text is drawn at 16 px in an
//! 860 px wide image, so it stays at 12 px or more when the page is printed.

use chrono::{Duration, NaiveDate};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::trends::Trends;
use crate::trends::plan_history::PlanEvent;

/// Font of axis labels and titles, in image pixels.
const TEXT_PX: u32 = 16;

const ACCENT: RGBColor = RGBColor(11, 83, 148);
const ROLLING: RGBColor = RGBColor(122, 75, 0);
const MARKER: RGBColor = RGBColor(166, 27, 27);
const SECOND: RGBColor = RGBColor(46, 125, 50);
const MAXIMUM: RGBColor = RGBColor(90, 90, 90);
const STOP: RGBColor = RGBColor(166, 27, 27);
const START: RGBColor = RGBColor(46, 125, 50);
const CHANGE: RGBColor = RGBColor(122, 75, 0);
const PROCEDURE: RGBColor = RGBColor(106, 27, 154);
const WIDTH: u32 = 860;
const HEIGHT: u32 = 300;

/// A chart could not be drawn (only possible on a plotters bug: the backend writes to a
/// string).
#[derive(Debug, thiserror::Error)]
#[error("chart drawing failed: {0}")]
pub struct ChartError(String);

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

fn label(from: NaiveDate, x: i32) -> String {
    (from + Duration::days(i64::from(x)))
        .format("%d %b")
        .to_string()
}

fn finish(svg: String, labelled_by: &str) -> String {
    svg.replacen(
        "<svg ",
        &format!(r#"<svg role="img" focusable="false" aria-labelledby="{labelled_by}" "#),
        1,
    )
}

/// The colour of an event marker by its kind (the page's legend names them).
pub fn event_colour(kind: &str) -> RGBColor {
    match kind {
        "drug_stopped" => STOP,
        "drug_started" => START,
        "dose_changed" => CHANGE,
        _ => PROCEDURE,
    }
}

/// Runs of consecutive days with a value: a line is drawn per run, so days without data
/// stay gaps instead of being bridged.
fn runs(points: impl Iterator<Item = (i32, Option<f64>)>) -> Vec<Vec<(i32, f64)>> {
    let mut out: Vec<Vec<(i32, f64)>> = Vec::new();
    let mut current: Vec<(i32, f64)> = Vec::new();
    for (x, v) in points {
        match v {
            Some(v) => current.push((x, v)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// One value of a day, if there is one.
type DayValue = fn(&crate::trends::DayTrend) -> Option<f64>;

fn n_days(t: &Trends) -> i32 {
    i32::try_from((t.to - t.from).num_days() + 1).unwrap_or(1)
}

/// Daily mean pain (points), daily maximum (triangles), 7-day rolling mean (line),
/// care-plan events (labelled vertical lines).
pub fn pain(t: &Trends, events: &[PlanEvent], labelled_by: &str) -> Result<String, ChartError> {
    let n = n_days(t);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT + 40)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_top(44)
            .x_label_area_size(52)
            .y_label_area_size(56)
            .build_cartesian_2d(-1i32..n, 0f64..10.5f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|x| label(t.from, *x))
            .x_desc("Local day")
            .y_desc("Pain (NRS 0-10)")
            .label_style(("sans-serif", TEXT_PX))
            .axis_desc_style(("sans-serif", TEXT_PX))
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        // Labels alternate between two rows so that close events do not overprint.
        for (k, e) in events.iter().enumerate() {
            let x = i32::try_from((e.date - t.from).num_days()).unwrap_or(-1);
            if !(0..n).contains(&x) {
                continue;
            }
            let colour = event_colour(e.kind);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0.0), (x, 10.5)],
                    colour.stroke_width(2),
                )))
                .map_err(err)?;
            let (px, py) = chart.backend_coord(&(x, 10.5));
            let row = if k % 2 == 0 { 34 } else { 16 };
            root.draw(&Text::new(
                e.label.clone(),
                (px + 3, py - row),
                ("sans-serif", TEXT_PX - 2)
                    .into_font()
                    .color(&colour)
                    .pos(Pos::new(HPos::Left, VPos::Top)),
            ))
            .map_err(err)?;
        }
        let rolling = runs(t.days.iter().enumerate().filter_map(|(i, d)| {
            Some((
                i32::try_from(i).ok()?,
                d.pain_mean.and(d.pain_rolling_mean_7d),
            ))
        }));
        for run in rolling {
            chart
                .draw_series(LineSeries::new(run, ROLLING.stroke_width(2)))
                .map_err(err)?;
        }
        chart
            .draw_series(t.days.iter().enumerate().filter_map(|(i, d)| {
                Some(TriangleMarker::new(
                    (i32::try_from(i).ok()?, d.pain_max?),
                    5,
                    MAXIMUM.filled(),
                ))
            }))
            .map_err(err)?;
        chart
            .draw_series(t.days.iter().enumerate().filter_map(|(i, d)| {
                Some(Circle::new(
                    (i32::try_from(i).ok()?, d.pain_mean?),
                    4,
                    ACCENT.filled(),
                ))
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(finish(svg, labelled_by))
}

/// Doses taken per day (bars) and daily MME (line, right axis).
pub fn medication(t: &Trends, labelled_by: &str) -> Result<String, ChartError> {
    let n = n_days(t);
    let doses: Vec<(i32, f64)> = t
        .days
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let taken: i64 = t
                .medications
                .iter()
                .filter(|m| m.date == d.date)
                .map(|m| m.taken)
                .sum();
            Some((i32::try_from(i).ok()?, taken as f64))
        })
        .collect();
    let max_doses = doses.iter().map(|d| d.1).fold(4.0, f64::max) + 1.0;
    let max_mme = t.days.iter().map(|d| d.mme).fold(50.0, f64::max) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(52)
            .y_label_area_size(56)
            .right_y_label_area_size(64)
            .build_cartesian_2d(-1i32..n, 0f64..max_doses)
            .map_err(err)?
            .set_secondary_coord(-1i32..n, 0f64..max_mme);
        chart
            .configure_mesh()
            .x_labels(10)
            .x_label_formatter(&|x| label(t.from, *x))
            .x_desc("Local day")
            .y_desc("Doses taken")
            .label_style(("sans-serif", TEXT_PX))
            .axis_desc_style(("sans-serif", TEXT_PX))
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        chart
            .configure_secondary_axes()
            .y_desc("MME (mg/day)")
            .label_style(("sans-serif", TEXT_PX))
            .axis_desc_style(("sans-serif", TEXT_PX))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                doses.iter().filter(|d| d.1 > 0.0).map(|(x, v)| {
                    Rectangle::new([(*x, 0.0), (*x + 1, *v)], ACCENT.mix(0.6).filled())
                }),
            )
            .map_err(err)?;
        chart
            .draw_secondary_series(LineSeries::new(
                t.days
                    .iter()
                    .enumerate()
                    .filter_map(|(i, d)| Some((i32::try_from(i).ok()?, d.mme))),
                MARKER.stroke_width(2),
            ))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(finish(svg, labelled_by))
}

/// Exercise minutes per week (bars) against the prescription (line).
pub fn exercise(t: &Trends, labelled_by: &str) -> Result<String, ChartError> {
    let weeks = &t.exercise_weekly;
    let n = i32::try_from(weeks.len()).unwrap_or(0).max(1);
    let prescribed = weeks.first().and_then(|w| w.prescribed_minutes);
    let max = weeks
        .iter()
        .map(|w| w.minutes)
        .fold(prescribed.unwrap_or(60.0), f64::max)
        * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(52)
            .y_label_area_size(56)
            .build_cartesian_2d(0i32..n, 0f64..max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(usize::try_from(n).unwrap_or(1))
            .x_label_formatter(&|x| {
                weeks
                    .get(usize::try_from(*x).unwrap_or(usize::MAX))
                    .map(|w| format!("wk {}", w.week_start.format("%d %b")))
                    .unwrap_or_default()
            })
            .x_desc("Week (Monday)")
            .y_desc("Minutes per week")
            .label_style(("sans-serif", TEXT_PX))
            .axis_desc_style(("sans-serif", TEXT_PX))
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(weeks.iter().enumerate().filter_map(|(i, w)| {
                let x = i32::try_from(i).ok()?;
                Some(Rectangle::new(
                    [(x, 0.0), (x + 1, w.minutes)],
                    SECOND.mix(0.7).filled(),
                ))
            }))
            .map_err(err)?;
        if let Some(p) = prescribed {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0, p), (n, p)],
                    MARKER.stroke_width(2),
                )))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(finish(svg, labelled_by))
}

/// Sleep hours, mood and stress per day (lines).
pub fn wellbeing(t: &Trends, labelled_by: &str) -> Result<String, ChartError> {
    let n = n_days(t);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(52)
            .y_label_area_size(56)
            .build_cartesian_2d(-1i32..n, 0f64..12.5f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(10)
            .x_label_formatter(&|x| label(t.from, *x))
            .x_desc("Local day")
            .y_desc("Sleep h / score 0-10")
            .label_style(("sans-serif", TEXT_PX))
            .axis_desc_style(("sans-serif", TEXT_PX))
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        let series = |f: fn(&crate::trends::DayTrend) -> Option<f64>| {
            runs(
                t.days
                    .iter()
                    .enumerate()
                    .filter_map(|(i, d)| Some((i32::try_from(i).ok()?, f(d)))),
            )
        };
        let lines: [(DayValue, RGBColor); 3] = [
            (|d| d.sleep_hours, ACCENT),
            (|d| d.mood, SECOND),
            (|d| d.stress, MARKER),
        ];
        for (f, colour) in lines {
            for run in series(f) {
                // A single day is a point, not an invisible zero-length line.
                if run.len() == 1 {
                    chart
                        .draw_series(run.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                        .map_err(err)?;
                } else {
                    chart
                        .draw_series(LineSeries::new(run, colour.stroke_width(2)))
                        .map_err(err)?;
                }
            }
        }
        root.present().map_err(err)?;
    }
    Ok(finish(svg, labelled_by))
}
