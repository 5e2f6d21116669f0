//! Stroke simplification (Ramer–Douglas–Peucker), which keeps an hour of drawing a small part
//! of the log: the server applies it to every stroke before its command is decided.

use super::SIMPLIFY_EPSILON;
use crate::events::FramePoint;

/// The distance from `p` to the segment `a`–`b`.
fn distance_to_segment(p: FramePoint, a: FramePoint, b: FramePoint) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let length_squared = dx * dx + dy * dy;
    let t = if length_squared > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length_squared).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cy) = (a[0] + t * dx, a[1] + t * dy);
    ((p[0] - cx).powi(2) + (p[1] - cy).powi(2)).sqrt()
}

/// Ramer–Douglas–Peucker: keeps the first and last points, and between two kept points the one
/// farthest from the segment joining them while that distance exceeds `epsilon`. Every dropped
/// point lies within `epsilon` of the segment between the kept points around it.
pub fn simplify(points: &[FramePoint], epsilon: f64) -> Vec<FramePoint> {
    kept_indices(points, epsilon)
        .into_iter()
        .map(|i| points[i])
        .collect()
}

/// The indices [`simplify`] keeps, in order.
fn kept_indices(points: &[FramePoint], epsilon: f64) -> Vec<usize> {
    if points.len() < 3 {
        return (0..points.len()).collect();
    }
    let mut keep = vec![false; points.len()];
    keep[0] = true;
    keep[points.len() - 1] = true;
    // An explicit stack of spans still to split: no recursion depth to worry about.
    let mut spans = vec![(0, points.len() - 1)];
    while let Some((first, last)) = spans.pop() {
        let farthest = (first + 1..last)
            .map(|i| {
                (
                    i,
                    distance_to_segment(points[i], points[first], points[last]),
                )
            })
            .fold(None, |best: Option<(usize, f64)>, (i, d)| match best {
                Some((_, bd)) if bd >= d => best,
                _ => Some((i, d)),
            });
        if let Some((i, d)) = farthest
            && d > epsilon
        {
            keep[i] = true;
            spans.push((first, i));
            spans.push((i, last));
        }
    }
    (0..points.len()).filter(|i| keep[*i]).collect()
}

/// Simplifies with [`SIMPLIFY_EPSILON`], doubling the tolerance until at most `max` points
/// remain (`max` at least 2). Points are expected in the frame; past a tolerance the size of the
/// frame only the first and last remain.
pub fn simplify_to_fit(points: &[FramePoint], max: usize) -> Vec<FramePoint> {
    let max = max.max(2);
    let mut epsilon = SIMPLIFY_EPSILON;
    loop {
        let simplified = simplify(points, epsilon);
        if simplified.len() <= max {
            return simplified;
        }
        if epsilon > 2.0 {
            // Only out-of-frame input gets here (the frame's diagonal is about 1.42).
            return vec![points[0], points[points.len() - 1]];
        }
        epsilon *= 2.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::teaching::MAX_STROKE_POINTS;
    use proptest::prelude::*;

    #[test]
    fn a_straight_line_keeps_its_ends_only() {
        let line: Vec<FramePoint> = (0..=100).map(|i| [i as f64 / 100.0, 0.5]).collect();
        assert_eq!(
            simplify(&line, SIMPLIFY_EPSILON),
            vec![[0.0, 0.5], [1.0, 0.5]]
        );
    }

    #[test]
    fn a_corner_farther_than_epsilon_is_kept_and_a_wobble_within_it_is_not() {
        let corner = [[0.1, 0.1], [0.5, 0.5], [0.9, 0.1]];
        assert_eq!(simplify(&corner, SIMPLIFY_EPSILON), corner.to_vec());
        let wobble = [[0.1, 0.1], [0.5, 0.101], [0.9, 0.1]];
        assert_eq!(
            simplify(&wobble, SIMPLIFY_EPSILON),
            vec![[0.1, 0.1], [0.9, 0.1]]
        );
    }

    #[test]
    fn a_closed_loop_keeps_its_shape() {
        // First and last point coincide: distances are to that point, not to a line.
        let circle: Vec<FramePoint> = (0..=64)
            .map(|i| {
                let a = i as f64 / 64.0 * std::f64::consts::TAU;
                [0.5 + 0.3 * a.cos(), 0.5 + 0.3 * a.sin()]
            })
            .collect();
        let kept = kept_indices(&circle, SIMPLIFY_EPSILON);
        assert!(
            kept.contains(&32),
            "the point opposite the start is kept: {kept:?}"
        );
        assert!(kept.len() > 16, "a circle is not a triangle: {kept:?}");
    }

    #[test]
    fn a_long_noisy_stroke_is_brought_under_the_cap() {
        // A zigzag of 2048 points, its corners far beyond epsilon: the first tolerance keeps
        // nearly all of them.
        let zigzag: Vec<FramePoint> = (0..2048)
            .map(|i| [i as f64 / 2047.0, if i % 2 == 0 { 0.2 } else { 0.8 }])
            .collect();
        assert!(simplify(&zigzag, SIMPLIFY_EPSILON).len() > 2000);
        let fitted = simplify_to_fit(&zigzag, MAX_STROKE_POINTS);
        assert!(fitted.len() <= MAX_STROKE_POINTS && fitted.len() >= 2);
        assert_eq!(fitted[0], zigzag[0]);
        assert_eq!(fitted.last(), zigzag.last());
    }

    fn points() -> impl Strategy<Value = Vec<FramePoint>> {
        prop::collection::vec(
            (0.0..=1.0f64, 0.0..=1.0f64).prop_map(|(x, y)| [x, y]),
            0..300,
        )
    }

    proptest! {
        #[test]
        fn simplification_keeps_ends_and_drops_only_points_within_epsilon(
            points in points(),
            epsilon in 0.0001..0.2f64,
        ) {
            let kept = kept_indices(&points, epsilon);
            prop_assert_eq!(simplify(&points, epsilon).len(), kept.len());
            if points.len() >= 2 {
                prop_assert_eq!(kept[0], 0);
                prop_assert_eq!(*kept.last().unwrap(), points.len() - 1);
            }
            prop_assert!(kept.windows(2).all(|w| w[0] < w[1]), "in order");
            for w in kept.windows(2) {
                for dropped in &points[w[0] + 1..w[1]] {
                    let d = distance_to_segment(*dropped, points[w[0]], points[w[1]]);
                    prop_assert!(d <= epsilon, "{} > {}", d, epsilon);
                }
            }
        }

        #[test]
        fn fitting_always_meets_the_cap(points in points(), max in 2usize..64) {
            let fitted = simplify_to_fit(&points, max);
            prop_assert!(fitted.len() <= max);
            prop_assert!(fitted.len() <= points.len());
            prop_assert_eq!(fitted.first(), points.first());
            prop_assert_eq!(fitted.last(), points.last());
        }
    }
}
