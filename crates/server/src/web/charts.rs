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

use paindiary_notifier::rules::normalize_drug_name;
use paindiary_sync::schema::care_plan::CarePlan;

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
            .margin_right(28)
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
            // A label that would run past the right edge is written leftwards of its line
            // (about 0.6 em per character of a sans-serif font).
            let width = e.label.chars().count() as f64 * f64::from(TEXT_PX - 2) * 0.6;
            let (x_text, anchor) = if f64::from(px + 3) + width > f64::from(WIDTH) - 4.0 {
                (px - 3, HPos::Right)
            } else {
                (px + 3, HPos::Left)
            };
            root.draw(&Text::new(
                e.label.clone(),
                (x_text, py - row),
                ("sans-serif", TEXT_PX - 2)
                    .into_font()
                    .color(&colour)
                    .pos(Pos::new(anchor, VPos::Top)),
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

/// Most drugs drawn as panels of the medication chart (the rest are in the tables).
pub const MAX_DRUG_PANELS: usize = 8;
/// Height of one drug's panel, x-axis labels included.
const PANEL_HEIGHT: u32 = 210;
const PRN: RGBColor = RGBColor(196, 90, 0);
const SCHEDULED: RGBColor = RGBColor(60, 60, 60);

/// One drug of the medication chart: what the care plan prescribes for it and what was
/// logged, per day of the range.
#[derive(Debug, Clone, PartialEq)]
pub struct DrugPanel {
    /// The drug as the panel names it (as prescribed, or the logged name).
    pub name: String,
    /// Scheduled doses per day the care plan prescribed on each day (none: not scheduled).
    pub scheduled: Vec<Option<f64>>,
    /// The PRN maximum per day on each day (none: not prescribed as needed).
    pub prn_max: Vec<Option<f64>>,
    /// Doses taken on schedule (not logged as PRN) per day.
    pub taken: Vec<f64>,
    /// Doses taken as needed (PRN) per day.
    pub prn_taken: Vec<f64>,
    /// The drug's MME per day, if it is an opioid with a conversion factor and was taken.
    pub mme: Option<Vec<f64>>,
    /// Whether the care plan marks it as an opioid (or its doses count as MME).
    pub opioid: bool,
}

/// The drugs of `t` as chart panels: the care plan's medications active in the range (in
/// plan order), then drugs logged but not prescribed, most doses first; at most
/// [`MAX_DRUG_PANELS`]. Intakes match a prescription by the normalised name.
pub fn drug_panels(t: &Trends, plan: &CarePlan) -> Vec<DrugPanel> {
    let n = t.days.len();
    let index = |d: NaiveDate| {
        usize::try_from((d - t.from).num_days())
            .ok()
            .filter(|i| *i < n)
    };
    let mut panels: Vec<(String, DrugPanel)> = Vec::new();
    // The panel of a drug (by normalised name), made on first sight.
    fn panel_of(panels: &mut Vec<(String, DrugPanel)>, n: usize, key: String, name: &str) -> usize {
        if let Some(i) = panels.iter().position(|(k, _)| *k == key) {
            return i;
        }
        panels.push((
            key,
            DrugPanel {
                name: name.to_owned(),
                scheduled: vec![None; n],
                prn_max: vec![None; n],
                taken: vec![0.0; n],
                prn_taken: vec![0.0; n],
                mme: None,
                opioid: false,
            },
        ));
        panels.len() - 1
    }
    for m in &plan.medications {
        let start = m.start_date.map_or(t.from, |d| d.max(t.from));
        let end = m.end_date.map_or(t.to, |d| d.min(t.to));
        if end < start {
            continue;
        }
        let i = panel_of(&mut panels, n, normalize_drug_name(&m.drug), &m.drug);
        let panel = &mut panels[i].1;
        panel.opioid |= m.opioid;
        let mut day = start;
        while day <= end {
            if let Some(k) = index(day) {
                if let Some(tpd) = m.times_per_day.filter(|v| *v > 0.0) {
                    panel.scheduled[k] = Some(panel.scheduled[k].unwrap_or(0.0) + tpd);
                }
                if m.prn
                    && let Some(max) = m.prn_max_per_day
                {
                    panel.prn_max[k] = Some(panel.prn_max[k].unwrap_or(0.0) + max);
                }
            }
            day += Duration::days(1);
        }
    }
    let prescribed = panels.len();
    for d in &t.medications {
        if d.taken == 0 && d.skipped == 0 {
            continue;
        }
        let i = panel_of(&mut panels, n, normalize_drug_name(&d.drug), &d.drug);
        if let Some(k) = index(d.date) {
            let panel = &mut panels[i].1;
            panel.taken[k] += (d.taken - d.prn_taken) as f64;
            panel.prn_taken[k] += d.prn_taken as f64;
        }
    }
    for (key, panel) in &mut panels {
        if t.days.iter().any(|d| d.mme_by_drug.contains_key(key)) {
            panel.opioid = true;
            panel.mme = Some(
                t.days
                    .iter()
                    .map(|d| d.mme_by_drug.get(key).copied().unwrap_or(0.0))
                    .collect(),
            );
        }
    }
    let mut out: Vec<DrugPanel> = panels.into_iter().map(|(_, p)| p).collect();
    let total = |p: &DrugPanel| p.taken.iter().chain(&p.prn_taken).sum::<f64>();
    out[prescribed..].sort_by(|a, b| total(b).total_cmp(&total(a)));
    out.truncate(MAX_DRUG_PANELS);
    out
}

/// Segments of a per-day level (one per run of days with the same value), drawn as
/// steps across each day's slot.
fn steps(levels: &[Option<f64>]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Option<(f64, usize, usize)> = None;
    let mut flush = |c: Option<(f64, usize, usize)>| {
        if let Some((v, a, b)) = c {
            out.push(vec![(a as f64, v), ((b + 1) as f64, v)]);
        }
    };
    for (i, l) in levels.iter().enumerate() {
        current = match (current, l) {
            (Some((v, a, _)), Some(x)) if (v - x).abs() < 1e-9 => Some((v, a, i)),
            (c, Some(x)) => {
                flush(c);
                Some((*x, i, i))
            }
            (c, None) => {
                flush(c);
                None
            }
        };
    }
    flush(current);
    out
}

/// The medication chart: one panel per drug, with doses taken on schedule (bars, left
/// half of each day), doses taken as needed (bars, right half), the scheduled doses per
/// day (solid step line) and the PRN maximum (dashed), and for an opioid its MME per day
/// (line, on its own right-hand axis).
pub fn medication(
    panels: &[DrugPanel],
    t: &Trends,
    labelled_by: &str,
) -> Result<String, ChartError> {
    let n = n_days(t);
    let count = u32::try_from(panels.len().max(1)).unwrap_or(1);
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH, PANEL_HEIGHT * count)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        if panels.is_empty() {
            root.draw(&Text::new(
                "No medication prescribed or logged in this range.",
                (20, 40),
                ("sans-serif", TEXT_PX).into_font(),
            ))
            .map_err(err)?;
        }
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            let top = panel
                .taken
                .iter()
                .zip(&panel.prn_taken)
                .map(|(a, b)| a.max(*b))
                .chain(panel.scheduled.iter().flatten().copied())
                .chain(panel.prn_max.iter().flatten().copied())
                .fold(2.0, f64::max)
                + 1.0;
            let max_mme = panel
                .mme
                .as_ref()
                .map_or(1.0, |m| m.iter().copied().fold(10.0, f64::max) * 1.15);
            let title = if panel.opioid {
                format!("{} (opioid)", panel.name)
            } else {
                panel.name.clone()
            };
            let mut chart = ChartBuilder::on(area)
                .margin(8)
                .caption(
                    title,
                    ("sans-serif", TEXT_PX + 1)
                        .into_font()
                        .style(FontStyle::Bold),
                )
                .x_label_area_size(40)
                .y_label_area_size(56)
                .right_y_label_area_size(72)
                .build_cartesian_2d(-1f64..f64::from(n), 0f64..top)
                .map_err(err)?
                .set_secondary_coord(-1f64..f64::from(n), 0f64..max_mme);
            chart
                .configure_mesh()
                .x_labels(8)
                .x_label_formatter(&|x| {
                    let day = x.round();
                    if (x - day).abs() > 1e-6 || day < 0.0 {
                        return String::new();
                    }
                    label(t.from, day as i32)
                })
                .y_labels(4)
                .y_label_formatter(&|y| format!("{y:.0}"))
                .y_desc("Doses per day")
                .label_style(("sans-serif", TEXT_PX))
                .axis_desc_style(("sans-serif", TEXT_PX))
                .light_line_style(WHITE)
                .draw()
                .map_err(err)?;
            if panel.mme.is_some() {
                chart
                    .configure_secondary_axes()
                    .y_labels(4)
                    .y_label_formatter(&|y| format!("{y:.0}"))
                    .y_desc("MME (mg/day)")
                    .label_style(("sans-serif", TEXT_PX).into_font().color(&MARKER))
                    .axis_desc_style(("sans-serif", TEXT_PX).into_font().color(&MARKER))
                    .draw()
                    .map_err(err)?;
            }
            chart
                .draw_series(
                    panel
                        .taken
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| **v > 0.0)
                        .map(|(i, v)| {
                            let x = i as f64;
                            Rectangle::new([(x + 0.05, 0.0), (x + 0.5, *v)], ACCENT.filled())
                        }),
                )
                .map_err(err)?;
            chart
                .draw_series(
                    panel
                        .prn_taken
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| **v > 0.0)
                        .map(|(i, v)| {
                            let x = i as f64;
                            Rectangle::new([(x + 0.5, 0.0), (x + 0.95, *v)], PRN.filled())
                        }),
                )
                .map_err(err)?;
            for run in steps(&panel.scheduled) {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        run,
                        SCHEDULED.stroke_width(2),
                    )))
                    .map_err(err)?;
            }
            for run in steps(&panel.prn_max) {
                // Dashes, so the PRN maximum reads apart from the schedule.
                let (a, b) = (run[0], run[1]);
                let mut x = a.0;
                let mut dashes = Vec::new();
                while x < b.0 {
                    dashes.push(PathElement::new(
                        vec![(x, a.1), ((x + 0.5).min(b.0), a.1)],
                        PRN.stroke_width(2),
                    ));
                    x += 1.0;
                }
                chart.draw_series(dashes).map_err(err)?;
            }
            if let Some(mme) = &panel.mme {
                chart
                    .draw_secondary_series(LineSeries::new(
                        mme.iter().enumerate().map(|(i, v)| (i as f64 + 0.5, *v)),
                        MARKER.stroke_width(2),
                    ))
                    .map_err(err)?;
            }
        }
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

/// Fill of a severity band: lighter for lower bands, so the bands read in order without
/// colour alone (each band is also named on the chart and in the table).
fn band_fill(k: usize) -> RGBColor {
    const FILLS: [RGBColor; 5] = [
        RGBColor(246, 246, 246),
        RGBColor(255, 243, 214),
        RGBColor(255, 224, 178),
        RGBColor(255, 204, 188),
        RGBColor(244, 180, 180),
    ];
    FILLS[k.min(FILLS.len() - 1)]
}

/// One instrument's totals over the range (points joined by a line) over its severity
/// bands (shaded, each named at its lower edge), e.g. PHQ-9 on 0-27 with bands from 5,
/// 10, 15, 20. The page's questionnaire table holds the same numbers.
pub fn questionnaire(
    t: &Trends,
    instrument: &paindiary_sync::questionnaire::Instrument,
    labelled_by: &str,
) -> Result<String, ChartError> {
    use paindiary_sync::questionnaire::Scoring;
    let n = n_days(t);
    let top = match instrument.scoring {
        Scoring::Mean => instrument.max_answer as f64,
        Scoring::Sum | Scoring::SumProrated { .. } => {
            instrument.max_answer as f64 * instrument.items.len() as f64
        }
    };
    let points: Vec<(i32, f64)> = t
        .questionnaires
        .iter()
        .filter(|q| q.instrument == instrument.id)
        .filter_map(|q| Some((i32::try_from((q.date - t.from).num_days()).ok()?, q.total)))
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(28)
            .x_label_area_size(52)
            .y_label_area_size(56)
            .build_cartesian_2d(-1i32..n, 0f64..top + 0.5)
            .map_err(err)?;
        for (k, band) in instrument.bands.iter().enumerate() {
            let low = f64::from(band.min);
            let high = instrument
                .bands
                .get(k + 1)
                .map_or(top + 0.5, |next| f64::from(next.min));
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(-1, low), (n, high)],
                    band_fill(k).filled(),
                )))
                .map_err(err)?;
            let (px, py) = chart.backend_coord(&(n, low));
            root.draw(&Text::new(
                band.label.replace('_', " "),
                (px - 4, py - 2),
                ("sans-serif", TEXT_PX - 2)
                    .into_font()
                    .color(&MAXIMUM)
                    .pos(Pos::new(HPos::Right, VPos::Bottom)),
            ))
            .map_err(err)?;
        }
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|x| label(t.from, *x))
            .x_desc("Local day")
            .y_desc(format!("{} total", instrument.name))
            .label_style(("sans-serif", TEXT_PX))
            .axis_desc_style(("sans-serif", TEXT_PX))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(points.clone(), ACCENT.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 5, ACCENT.filled())))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(finish(svg, labelled_by))
}
