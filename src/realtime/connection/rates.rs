//! Per-participant rates of the teaching messages (token buckets, on top of the connection's
//! overall rate): drawing sends bursts of strokes, a pointer a steady trickle, chat a little.

use super::*;

/// Strokes per second, and the burst on top.
const STROKES: (u32, u32) = (10, 20);
/// Pointer batches per second (a client sends one per 200 ms), and the burst on top.
const POINTER: (u32, u32) = (6, 10);
/// Chat messages and questions together per second, and the burst on top.
const CHAT: (u32, u32) = (2, 5);

/// The buckets of one connection's participant.
pub(super) struct TeachingRates {
    strokes: DefaultDirectRateLimiter,
    pointer: DefaultDirectRateLimiter,
    chat: DefaultDirectRateLimiter,
}

fn bucket((per_second, burst): (u32, u32)) -> DefaultDirectRateLimiter {
    // The constants above are not zero.
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
}

impl TeachingRates {
    pub(super) fn new() -> TeachingRates {
        TeachingRates {
            strokes: bucket(STROKES),
            pointer: bucket(POINTER),
            chat: bucket(CHAT),
        }
    }

    /// The `rate_limited` answer when one more message of `kind` is over its rate (counting
    /// it otherwise); `None` when it may go on, and for kinds without a rate of their own.
    pub(super) fn refusal(&self, kind: &str, reference: Option<Ref>) -> Option<ServerMessage> {
        let (bucket, what, (per_second, burst)) = match kind {
            "annotation.stroke" => (&self.strokes, "strokes", STROKES),
            "pointer.move" => (&self.pointer, "pointer batches", POINTER),
            "chat.post" | "question.ask" => (&self.chat, "chat messages and questions", CHAT),
            _ => return None,
        };
        bucket.check().err().map(|_| {
            ServerMessage::error(
                reference,
                "rate_limited",
                format!(
                    "more than {per_second} {what} per second (burst {burst}): this one was \
                     dropped"
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_bucket_and_other_kinds_none() {
        let rates = TeachingRates::new();
        let refused = |kind: &str, n: usize| {
            (0..n)
                .filter(|_| rates.refusal(kind, None).is_some())
                .count()
        };
        // Sent at once: the burst passes, the rest is refused (a second has not passed).
        assert_eq!(refused("pointer.move", 15), 15 - POINTER.1 as usize);
        assert_eq!(refused("annotation.stroke", 25), 25 - STROKES.1 as usize);
        assert_eq!(
            refused("chat.post", 3) + refused("question.ask", 3),
            6 - CHAT.1 as usize
        );
        assert_eq!(refused("hand.raise", 100), 0);
        let answer = rates
            .refusal("pointer.move", Some(Ref("p".into())))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&answer.to_text()).unwrap();
        assert_eq!(v["code"], "rate_limited");
        assert_eq!(v["ref"], "p");
    }
}
