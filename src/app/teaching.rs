//! Teaching on live video, the application's part: what a stroke goes through before its command
//! is decided. A stroke arrives with every point the pen made since it went down; it is refused
//! past [`MAX_RAW_STROKE_POINTS`] and otherwise simplified to at most [`MAX_STROKE_POINTS`], so
//! an hour of drawing stays a small part of the log. The rest of the rules are the domain's.

use livesurgery_domain::events::FramePoint;
use livesurgery_domain::teaching::{
    MAX_RAW_STROKE_POINTS, MAX_STROKE_POINTS, check_frame_points, simplify_to_fit,
};

use super::AppError;

/// The points a stroke is written with: its raw points checked (at most
/// [`MAX_RAW_STROKE_POINTS`], `stroke_too_large`; each in the frame, `validation_failed`) and
/// simplified (Ramer–Douglas–Peucker, tolerance raised until at most [`MAX_STROKE_POINTS`]).
/// Points are checked before simplifying, which would otherwise drop a stray one unseen.
pub fn stroke_points(raw: &[FramePoint]) -> Result<Vec<FramePoint>, AppError> {
    if raw.len() > MAX_RAW_STROKE_POINTS {
        return Err(AppError::unprocessable(
            "stroke_too_large",
            format!(
                "a stroke has at most {MAX_RAW_STROKE_POINTS} points (this one {}): simplify it \
                 or split it",
                raw.len()
            ),
        ));
    }
    check_frame_points("points", raw)?;
    Ok(simplify_to_fit(raw, MAX_STROKE_POINTS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stroke_past_the_raw_cap_is_too_large() {
        let raw: Vec<FramePoint> = (0..=MAX_RAW_STROKE_POINTS).map(|_| [0.5, 0.5]).collect();
        assert_eq!(stroke_points(&raw).unwrap_err().code, "stroke_too_large");
        assert!(
            stroke_points(&raw[1..]).is_ok(),
            "exactly the cap is accepted"
        );
    }

    #[test]
    fn a_point_outside_the_frame_is_refused_even_where_simplification_would_drop_it() {
        // The middle point lies 0.001 above the frame's top edge: within the tolerance of the
        // line between its neighbours, so simplification alone would drop it.
        let raw = [[0.1, 0.0], [0.5, -0.001], [0.9, 0.0]];
        assert_eq!(simplify_to_fit(&raw, MAX_STROKE_POINTS).len(), 2);
        let error = stroke_points(&raw).unwrap_err();
        assert_eq!(error.code, "validation_failed");
        assert!(error.message.contains("points"), "{}", error.message);
    }

    #[test]
    fn a_dense_stroke_is_simplified_under_the_written_cap() {
        let raw: Vec<FramePoint> = (0..MAX_RAW_STROKE_POINTS)
            .map(|i| {
                let t = i as f64 / MAX_RAW_STROKE_POINTS as f64;
                [t, 0.5 + 0.4 * (t * 40.0).sin()]
            })
            .collect();
        let points = stroke_points(&raw).unwrap();
        assert!(
            points.len() <= MAX_STROKE_POINTS && points.len() >= 2,
            "{}",
            points.len()
        );
        assert_eq!(points[0], raw[0]);
        assert_eq!(points.last(), raw.last());
    }
}
