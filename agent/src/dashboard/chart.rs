//! Bar charts drawn on the server as SVG: no script, no fonts to load, readable by screen
//! readers (`role="img"` with a label, a `<title>` per bar for the exact figures).
//!
//! Styling is by class (the dashboard's stylesheet colours `.bar` and `.bar-part`), so the
//! page's Content-Security-Policy needs no inline styles. Coordinates are integers.

use maud::{Markup, html};

/// One bar: its label under the axis, its total, the highlighted part of it (drawn over
/// the total), and the text shown on hover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bar {
    /// Under the axis, e.g. `09`.
    pub label: String,
    /// The bar's height, in the chart's unit.
    pub total: i64,
    /// The highlighted part, `0..=total`.
    pub part: i64,
    /// The exact figures, shown on hover.
    pub title: String,
}

const WIDTH: i64 = 960;
const HEIGHT: i64 = 260;
const LEFT: i64 = 56;
const RIGHT: i64 = 8;
const TOP: i64 = 12;
const BOTTOM: i64 = 28;
const TICKS: i64 = 4;

/// The smallest 1, 2 or 5 × 10ⁿ at least `n` (1 for `n ≤ 1`).
fn nice(n: i64) -> i64 {
    let mut scale = 1_i64;
    loop {
        for step in [1_i64, 2, 5] {
            let candidate = step.saturating_mul(scale);
            if candidate >= n || candidate == i64::MAX {
                return candidate;
            }
        }
        scale = scale.saturating_mul(10);
    }
}

/// A bar chart of `bars`, labelled `caption`; `axis` writes the y axis' values.
pub(crate) fn bars(bars: &[Bar], caption: &str, axis: &dyn Fn(i64) -> String) -> Markup {
    let max = bars.iter().map(|b| b.total.max(0)).max().unwrap_or(0);
    let step = nice((max.saturating_add(TICKS - 1) / TICKS).max(1));
    let top = step.saturating_mul(TICKS);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = i64::try_from(bars.len()).unwrap_or(i64::MAX).max(1);
    let slot = plot_w / n;
    let bar_w = (slot * 7 / 10).max(1);
    let height = |v: i64| -> i64 {
        let v = i128::from(v.clamp(0, top));
        i64::try_from(v * i128::from(plot_h) / i128::from(top.max(1))).unwrap_or(plot_h)
    };
    let base = TOP + plot_h;
    html! {
        svg class="chart" xmlns="http://www.w3.org/2000/svg"
            viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(caption) {
            title { (caption) }
            @for t in 0..=TICKS {
                @let y = base - height(step.saturating_mul(t));
                line class="grid" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) {}
                text class="axis" x=(LEFT - 6) y=(y + 4) text-anchor="end" { (axis(step.saturating_mul(t))) }
            }
            @for (i, bar) in (0_i64..).zip(bars) {
                @let x = LEFT + i * slot + (slot - bar_w) / 2;
                @let h = height(bar.total);
                @let p = height(bar.part.min(bar.total));
                g {
                    title { (bar.title) }
                    rect class="bar" x=(x) y=(base - h) width=(bar_w) height=(h) {}
                    @if p > 0 {
                        rect class="bar-part" x=(x) y=(base - p) width=(bar_w) height=(p) {}
                    }
                    text class="axis" x=(x + bar_w / 2) y=(HEIGHT - 10) text-anchor="middle" { (bar.label) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, total: i64, part: i64) -> Bar {
        Bar {
            label: label.to_owned(),
            total,
            part,
            title: format!("{label}: {total} ({part})"),
        }
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(
            [0, 1, 2, 3, 6, 11, 99, 101, 4999].map(nice),
            [1, 1, 2, 5, 10, 20, 100, 200, 5000]
        );
        assert_eq!(nice(i64::MAX), i64::MAX);
    }

    #[test]
    fn bars_are_proportional_and_labelled() {
        let svg = bars(
            &[bar("09", 40, 10), bar("10", 20, 0), bar("<b>", 0, 0)],
            "Sales per hour",
            &|v| v.to_string(),
        )
        .into_string();
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(svg.contains("aria-label=\"Sales per hour\""));
        // 40 → ticks of 10 up to 40: the first bar fills the plot (220 px), the second half.
        assert!(svg.contains("height=\"220\""), "{svg}");
        assert!(svg.contains("height=\"110\""), "{svg}");
        assert!(svg.contains("height=\"55\""), "part 10 of 40: {svg}");
        assert_eq!(svg.matches("class=\"bar\"").count(), 3);
        assert_eq!(svg.matches("class=\"bar-part\"").count(), 1);
        assert!(svg.contains("<title>09: 40 (10)</title>"));
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"), "escaped");
        for tick in ["0", "10", "20", "30", "40"] {
            assert!(svg.contains(&format!(">{tick}</text>")), "{tick}: {svg}");
        }
    }

    #[test]
    fn an_empty_day_draws_an_empty_chart() {
        let svg = bars(&[bar("00", 0, 0)], "x", &|v| v.to_string()).into_string();
        assert!(svg.contains("height=\"0\""));
        let svg = bars(&[], "x", &|v| v.to_string()).into_string();
        assert!(!svg.contains("<rect"));
        // Hostile figures do not overflow.
        let svg = bars(
            &[bar("x", i64::MAX, i64::MAX), bar("y", -5, -5)],
            "x",
            &|v| v.to_string(),
        )
        .into_string();
        assert!(svg.contains("height=\"220\""));
    }
}
