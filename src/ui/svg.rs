//! The two plots, drawn on the server as inline SVG (no script, no
//! library): the four drive levels over the last dream runs, and memory
//! growth as turns per month. Colours come from classes in ui.css (the
//! CSP allows no inline style); every label goes through [`Html`].

use super::html::Html;

const W: f64 = 720.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 34.0;

pub const DRIVES: [&str; 4] = ["continuity", "coherence", "curiosity", "stability"];

/// One run's drive levels (0..1), in [`DRIVES`] order.
#[derive(Debug, Clone)]
pub struct RunPoint {
    pub id: i64,
    pub label: String,
    pub levels: [f64; 4],
}

fn x_at(i: usize, n: usize) -> f64 {
    let span = W - LEFT - RIGHT;
    if n <= 1 {
        LEFT + span / 2.0
    } else {
        LEFT + span * i as f64 / (n - 1) as f64
    }
}

fn y_at(level: f64, max: f64) -> f64 {
    let span = H - TOP - BOTTOM;
    TOP + span * (1.0 - (level / max).clamp(0.0, 1.0))
}

fn open_plot(h: &mut Html, id: &'static str, label: &str) {
    h.open(
        "svg",
        &[
            ("id", id),
            ("class", "plot"),
            ("xmlns", "http://www.w3.org/2000/svg"),
            ("viewBox", &format!("0 0 {W} {H}")),
            ("role", "img"),
            ("aria-label", label),
        ],
    );
}

fn line(h: &mut Html, class: &'static str, x1: f64, y1: f64, x2: f64, y2: f64) {
    h.open(
        "line",
        &[
            ("class", class),
            ("x1", &fmt(x1)),
            ("y1", &fmt(y1)),
            ("x2", &fmt(x2)),
            ("y2", &fmt(y2)),
        ],
    )
    .close("line");
}

fn label(h: &mut Html, x: f64, y: f64, anchor: &'static str, text: &str) {
    h.open(
        "text",
        &[("x", &fmt(x)), ("y", &fmt(y)), ("text-anchor", anchor)],
    )
    .text(text)
    .close("text");
}

fn fmt(x: f64) -> String {
    format!("{x:.1}")
}

/// The drive plot: a line per drive, one point per run per drive, oldest
/// run on the left; `runs` oldest first.
pub fn drive_plot(h: &mut Html, runs: &[RunPoint]) {
    open_plot(
        h,
        "drive-plot",
        &format!("drive levels over the last {} runs", runs.len()),
    );
    for (v, text) in [(0.0, "0"), (0.5, "0.5"), (1.0, "1")] {
        let y = y_at(v, 1.0);
        line(h, "grid", LEFT, y, W - RIGHT, y);
        label(h, LEFT - 6.0, y + 4.0, "end", text);
    }
    line(h, "axis", LEFT, H - BOTTOM, W - RIGHT, H - BOTTOM);
    let n = runs.len();
    for (d, name) in DRIVES.iter().enumerate() {
        let class = drive_class(name);
        let points: Vec<String> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{},{}", fmt(x_at(i, n)), fmt(y_at(r.levels[d], 1.0))))
            .collect();
        if n > 1 {
            h.open(
                "polyline",
                &[
                    ("class", &format!("line {class}")),
                    ("points", &points.join(" ")),
                ],
            )
            .close("polyline");
        }
        for (i, r) in runs.iter().enumerate() {
            h.open(
                "circle",
                &[
                    ("class", &format!("pt {class}")),
                    ("data-run", &r.id.to_string()),
                    ("cx", &fmt(x_at(i, n))),
                    ("cy", &fmt(y_at(r.levels[d], 1.0))),
                    ("r", "3"),
                ],
            )
            .raw("<title>")
            .text(&format!(
                "run {} ({}): {name} {:.2}",
                r.id, r.label, r.levels[d]
            ))
            .raw("</title>")
            .close("circle");
        }
    }
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        label(h, LEFT, H - 12.0, "start", &first.label);
        if n > 1 {
            label(h, W - RIGHT, H - 12.0, "end", &last.label);
        }
    }
    h.close("svg");
    h.raw("<div class=\"legend\">");
    for name in DRIVES {
        h.el_class("span", &format!("c-{name}"), name);
    }
    h.raw("</div>");
}

fn drive_class(name: &str) -> String {
    format!("d-{name}")
}

/// Memory growth: a bar per month with turns written that month, and the
/// running total as a dashed line on its own scale; `months` oldest first.
pub fn growth_plot(h: &mut Html, months: &[(String, i64)]) {
    open_plot(h, "growth-plot", "turns written per month");
    let max = months.iter().map(|m| m.1).max().unwrap_or(0).max(1) as f64;
    let total: i64 = months.iter().map(|m| m.1).sum();
    for (v, text) in [(0.0, "0".to_owned()), (max, format!("{max}"))] {
        let y = y_at(v, max);
        line(h, "grid", LEFT, y, W - RIGHT, y);
        label(h, LEFT - 6.0, y + 4.0, "end", &text);
    }
    line(h, "axis", LEFT, H - BOTTOM, W - RIGHT, H - BOTTOM);
    let n = months.len().max(1);
    let slot = (W - LEFT - RIGHT) / n as f64;
    let bar = (slot * 0.7).max(1.0);
    let mut running = 0i64;
    let mut totals = Vec::with_capacity(months.len());
    for (i, (month, count)) in months.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let y = y_at(*count as f64, max);
        h.open(
            "rect",
            &[
                ("class", "bar"),
                ("x", &fmt(x)),
                ("y", &fmt(y)),
                ("width", &fmt(bar)),
                ("height", &fmt(H - BOTTOM - y)),
            ],
        )
        .raw("<title>")
        .text(&format!("{month}: {count} turns"))
        .raw("</title>")
        .close("rect");
        running += count;
        totals.push(format!(
            "{},{}",
            fmt(x + bar / 2.0),
            fmt(y_at(running as f64, total.max(1) as f64))
        ));
    }
    if months.len() > 1 {
        h.open(
            "polyline",
            &[("class", "total"), ("points", &totals.join(" "))],
        )
        .raw("<title>")
        .text(&format!("running total, up to {total} turns"))
        .raw("</title>")
        .close("polyline");
    }
    // Month labels, thinned so they never overlap.
    let every = months.len().div_ceil(12).max(1);
    for (i, (month, _)) in months.iter().enumerate() {
        if i % every == 0 || i + 1 == months.len() {
            label(h, LEFT + slot * (i as f64 + 0.5), H - 12.0, "middle", month);
        }
    }
    h.close("svg");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_per_run_per_drive_and_labels_escaped() {
        let runs: Vec<RunPoint> = (0..3)
            .map(|i| RunPoint {
                id: i,
                label: "<b>".into(),
                levels: [0.1, 0.2, 0.3, 1.0],
            })
            .collect();
        let mut h = Html::new();
        drive_plot(&mut h, &runs);
        let out = h.finish();
        assert_eq!(out.matches("class=\"pt d-continuity\"").count(), 3);
        assert_eq!(out.matches("<circle").count(), 12);
        assert!(!out.contains("<b>"), "{out}");
        let mut h = Html::new();
        growth_plot(&mut h, &[("2023-05".into(), 10), ("2023-06".into(), 0)]);
        let out = h.finish();
        assert_eq!(out.matches("<rect").count(), 2);
        let mut h = Html::new();
        growth_plot(&mut h, &[]);
        assert!(h.finish().contains("</svg>"));
    }
}
