//! The body map of the patient page: a front and a back outline made of the schema's
//! body regions ([`BodyRegion`]), each region shaded by how many pain entries of the
//! range named it. Drawn as plain SVG (no chart library: the shapes are fixed); the page
//! lists the same counts as a table for screen readers and print.
//!
//! Left and right are the patient's own sides, as in the schema: on the front view the
//! patient's right is on the viewer's left, on the back view on the viewer's right.

use std::fmt::Write as _;

use paindiary_sync::schema::vocab::BodyRegion;

use super::esc;

/// Shading steps above "not reported" (the legend names each step's counts).
pub const LEVELS: u32 = 4;
/// Fill of each step, light to dark; index 0 is "not reported".
const FILLS: [&str; 5] = ["#ffffff", "#fcd5c4", "#f4956f", "#d6412b", "#8c1111"];
/// Width of one view (front or back), in SVG units.
const VIEW: f64 = 200.0;
/// Horizontal offset of the back view.
const BACK_X: f64 = 260.0;

/// A region's outline in view coordinates (the front view, patient's right on the left).
#[derive(Clone, Copy)]
enum Shape {
    /// x, y, width, height (rounded corners).
    Rect(f64, f64, f64, f64),
    /// centre x, centre y, radius x, radius y.
    Ellipse(f64, f64, f64, f64),
}

impl Shape {
    /// The same shape mirrored across the view's vertical centre line.
    fn mirrored(self) -> Shape {
        match self {
            Shape::Rect(x, y, w, h) => Shape::Rect(VIEW - x - w, y, w, h),
            Shape::Ellipse(cx, cy, rx, ry) => Shape::Ellipse(VIEW - cx, cy, rx, ry),
        }
    }

    fn svg(self, dx: f64, attrs: &str, title: &str) -> String {
        match self {
            Shape::Rect(x, y, w, h) => format!(
                r#"<rect x="{}" y="{y}" width="{w}" height="{h}" rx="6" {attrs}><title>{title}</title></rect>"#,
                x + dx
            ),
            Shape::Ellipse(cx, cy, rx, ry) => format!(
                r#"<ellipse cx="{}" cy="{cy}" rx="{rx}" ry="{ry}" {attrs}><title>{title}</title></ellipse>"#,
                cx + dx
            ),
        }
    }
}

/// Which views a region is drawn on.
#[derive(Clone, Copy, PartialEq)]
enum Views {
    Front,
    Back,
    Both,
}

/// The patient's right-side shape of a limb region (front view coordinates); the left
/// side is its mirror image.
fn limb(region: BodyRegion) -> Option<(Shape, bool)> {
    use BodyRegion as R;
    let right = |s| Some((s, true));
    let left = |s: Shape| Some((s.mirrored(), false));
    match region {
        R::ShoulderRight => right(Shape::Ellipse(66.0, 80.0, 16.0, 11.0)),
        R::ShoulderLeft => left(Shape::Ellipse(66.0, 80.0, 16.0, 11.0)),
        R::UpperArmRight => right(Shape::Rect(46.0, 88.0, 18.0, 48.0)),
        R::UpperArmLeft => left(Shape::Rect(46.0, 88.0, 18.0, 48.0)),
        R::ElbowRight => right(Shape::Ellipse(54.0, 143.0, 11.0, 8.0)),
        R::ElbowLeft => left(Shape::Ellipse(54.0, 143.0, 11.0, 8.0)),
        R::ForearmRight => right(Shape::Rect(42.0, 151.0, 18.0, 46.0)),
        R::ForearmLeft => left(Shape::Rect(42.0, 151.0, 18.0, 46.0)),
        R::WristHandRight => right(Shape::Ellipse(50.0, 212.0, 11.0, 15.0)),
        R::WristHandLeft => left(Shape::Ellipse(50.0, 212.0, 11.0, 15.0)),
        R::HipRight => right(Shape::Rect(60.0, 168.0, 14.0, 30.0)),
        R::HipLeft => left(Shape::Rect(60.0, 168.0, 14.0, 30.0)),
        R::ThighRight => right(Shape::Rect(74.0, 204.0, 24.0, 66.0)),
        R::ThighLeft => left(Shape::Rect(74.0, 204.0, 24.0, 66.0)),
        R::KneeRight => right(Shape::Ellipse(86.0, 280.0, 12.0, 10.0)),
        R::KneeLeft => left(Shape::Ellipse(86.0, 280.0, 12.0, 10.0)),
        R::LowerLegRight => right(Shape::Rect(77.0, 291.0, 19.0, 76.0)),
        R::LowerLegLeft => left(Shape::Rect(77.0, 291.0, 19.0, 76.0)),
        R::AnkleFootRight => right(Shape::Rect(72.0, 369.0, 25.0, 20.0)),
        R::AnkleFootLeft => left(Shape::Rect(72.0, 369.0, 25.0, 20.0)),
        _ => None,
    }
}

/// The shape of a region on the body's midline, and the views it shows on.
fn midline(region: BodyRegion) -> Option<(Shape, Views)> {
    use BodyRegion as R;
    Some(match region {
        R::Head => (Shape::Ellipse(100.0, 30.0, 24.0, 28.0), Views::Both),
        R::Face => (Shape::Ellipse(100.0, 34.0, 15.0, 15.0), Views::Front),
        R::Jaw => (Shape::Rect(88.0, 49.0, 24.0, 9.0), Views::Front),
        R::Neck => (Shape::Rect(90.0, 58.0, 20.0, 14.0), Views::Both),
        R::Chest => (Shape::Rect(72.0, 72.0, 56.0, 52.0), Views::Front),
        R::Abdomen => (Shape::Rect(74.0, 124.0, 52.0, 44.0), Views::Front),
        R::Pelvis => (Shape::Rect(74.0, 168.0, 52.0, 20.0), Views::Front),
        R::Groin => (Shape::Rect(88.0, 188.0, 24.0, 14.0), Views::Front),
        R::UpperBack => (Shape::Rect(72.0, 72.0, 56.0, 40.0), Views::Back),
        R::MidBack => (Shape::Rect(74.0, 112.0, 52.0, 30.0), Views::Back),
        R::LowerBack => (Shape::Rect(74.0, 142.0, 52.0, 30.0), Views::Back),
        R::Buttock => (Shape::Rect(74.0, 172.0, 52.0, 32.0), Views::Back),
        _ => return None,
    })
}

/// The words for a region code: "lower back", "knee (left)".
pub fn region_words(code: &str) -> String {
    for side in ["left", "right"] {
        if let Some(part) = code.strip_suffix(&format!("_{side}")) {
            return format!("{} ({side})", part.replace('_', " "));
        }
    }
    code.replace('_', " ")
}

/// The shading step of `count` when the most reported region has `max`: 0 for none,
/// else 1..=[`LEVELS`].
pub fn level(count: u32, max: u32) -> u32 {
    if count == 0 || max == 0 {
        return 0;
    }
    // Ceiling of count / max * LEVELS, so that any report is visible.
    (count * LEVELS).div_ceil(max).clamp(1, LEVELS)
}

/// The counts each shading step stands for when the most reported region has `max`:
/// (step, lowest count, highest count), steps without any count left out.
pub fn legend(max: u32) -> Vec<(u32, u32, u32)> {
    let mut out: Vec<(u32, u32, u32)> = Vec::new();
    for count in 1..=max {
        let l = level(count, max);
        match out.last_mut() {
            Some(last) if last.0 == l => last.2 = count,
            _ => out.push((l, count, count)),
        }
    }
    out
}

/// The body map as an `<svg>` labelled by `labelled_by`, from (region code, entries)
/// counts of `entries` pain entries. Codes that are not regions of the vocabulary (free
/// text) are not drawn; the table beside the map lists them.
pub fn svg(counts: &[(String, u32)], entries: u32, labelled_by: &str) -> String {
    let count_of = |r: BodyRegion| {
        counts
            .iter()
            .find(|(c, _)| c == r.as_str())
            .map_or(0, |(_, n)| *n)
    };
    let max = BodyRegion::ALL
        .iter()
        .map(|r| count_of(*r))
        .max()
        .unwrap_or(0);
    let attrs = |r: BodyRegion| {
        let n = count_of(r);
        format!(
            r##"class="region" data-region="{code}" data-count="{n}" fill="{fill}" stroke="#444" stroke-width="1.2""##,
            code = r.as_str(),
            fill = FILLS[usize::try_from(level(n, max)).unwrap_or(0)],
        )
    };
    let title = |r: BodyRegion| {
        let n = count_of(r);
        esc(&format!(
            "{}: {n} of {entries} entries",
            region_words(r.as_str())
        ))
    };
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 460 460" width="460" height="460" role="img" focusable="false" aria-labelledby="{}" class="body-map">"#,
        esc(labelled_by)
    );
    for (dx, name, sides) in [(0.0, "Front", ("R", "L")), (BACK_X, "Back", ("L", "R"))] {
        let _ = write!(
            out,
            r#"<text x="{cx}" y="412" font-size="15" font-family="sans-serif" text-anchor="middle">{name}</text><text x="{l}" y="250" font-size="14" font-family="sans-serif" text-anchor="middle">{a}</text><text x="{r}" y="250" font-size="14" font-family="sans-serif" text-anchor="middle">{b}</text>"#,
            cx = dx + VIEW / 2.0,
            l = dx + 14.0,
            r = dx + VIEW - 14.0,
            a = sides.0,
            b = sides.1,
        );
    }
    // Midline regions first (the face and jaw lie on the head), then the limbs.
    for r in BodyRegion::ALL {
        if let Some((shape, views)) = midline(*r) {
            if views != Views::Back {
                out.push_str(&shape.svg(0.0, &attrs(*r), &title(*r)));
            }
            if views != Views::Front {
                out.push_str(&shape.svg(BACK_X, &attrs(*r), &title(*r)));
            }
        }
    }
    for r in BodyRegion::ALL {
        if let Some((shape, _)) = limb(*r) {
            out.push_str(&shape.svg(0.0, &attrs(*r), &title(*r)));
            // From behind the patient's sides swap places.
            out.push_str(&shape.mirrored().svg(BACK_X, &attrs(*r), &title(*r)));
        }
    }
    let widespread = BodyRegion::Widespread;
    let _ = write!(
        out,
        r#"{}<text x="230" y="444" font-size="14" font-family="sans-serif" text-anchor="middle">Widespread: {}</text></svg>"#,
        Shape::Rect(150.0, 424.0, 160.0, 30.0).svg(0.0, &attrs(widespread), &title(widespread)),
        count_of(widespread),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_is_drawn_once_per_view_it_shows_on() {
        for r in BodyRegion::ALL {
            let drawn = limb(*r).is_some() || midline(*r).is_some() || *r == BodyRegion::Widespread;
            assert!(drawn, "{r} is not on the map");
        }
        let svg = svg(&[("lower_back".into(), 3), ("knee_left".into(), 1)], 4, "c");
        assert_eq!(svg.matches(r#"data-region="knee_left""#).count(), 2);
        assert_eq!(svg.matches(r#"data-region="lower_back""#).count(), 1);
        assert!(svg.contains(r##"data-region="lower_back" data-count="3" fill="#8c1111""##));
        // 1 of at most 3 is the second of four steps.
        assert!(svg.contains(r##"data-region="knee_left" data-count="1" fill="#f4956f""##));
        assert!(svg.contains(r##"data-region="head" data-count="0" fill="#ffffff""##));
    }

    #[test]
    fn any_report_is_shaded_and_the_legend_covers_every_count() {
        assert_eq!(level(0, 10), 0);
        assert_eq!(level(1, 100), 1);
        assert_eq!(level(100, 100), LEVELS);
        assert_eq!(legend(1), vec![(4, 1, 1)]);
        assert_eq!(legend(8), vec![(1, 1, 2), (2, 3, 4), (3, 5, 6), (4, 7, 8)]);
        assert_eq!(region_words("wrist_hand_left"), "wrist hand (left)");
    }
}
