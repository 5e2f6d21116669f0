//! Property-based fuzzing of the SDP handling behind WHIP and WHEP: whatever offer arrives
//! (any text, or a real offer with lines dropped, repeated, garbled, or with hundreds of
//! m-lines), answering it and counting its slots never panics, and an answer keeps the offer's
//! m-lines.

use std::net::SocketAddr;

use proptest::prelude::*;

use super::count_media;
use super::engine::answer;
use super::forward::initial_slots;

/// A sendonly VP8 + Opus offer as browsers send it (trimmed to what str0m needs).
const OFFER: [&str; 26] = [
    "v=0",
    "o=- 1 1 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=msid-semantic: WMS",
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:abcd",
    "a=ice-pwd:abcdefghijklmnopqrstuvwx",
    "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
    "a=setup:actpass",
    "a=mid:0",
    "a=sendonly",
    "a=rtcp-mux",
    "a=rtpmap:96 VP8/90000",
    "a=ssrc:1111 cname:test",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:abcd",
    "a=ice-pwd:abcdefghijklmnopqrstuvwx",
    "a=setup:actpass",
    "a=mid:1",
    "a=sendonly",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
];

/// A recvonly video m-section (as a WHEP offer repeats per slot) with this mid.
fn recvonly_video(mid: usize) -> String {
    format!(
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n\
         a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=setup:actpass\r\na=mid:{mid}\r\na=recvonly\r\n\
         a=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n"
    )
}

fn advertised() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000))
}

/// One edit of an offer's lines.
#[derive(Debug, Clone)]
enum Edit {
    Drop(prop::sample::Index),
    Repeat(prop::sample::Index),
    Replace(prop::sample::Index, String),
    Insert(prop::sample::Index, String),
    Truncate(prop::sample::Index, prop::sample::Index),
}

fn sdp_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]=.{0,80}",
        "a=[a-z-]{1,16}:.{0,60}",
        "m=(video|audio|application|text) [0-9]{1,6} [A-Z/]{0,20} [0-9 ]{0,20}",
        "a=rtpmap:[0-9]{1,4} [A-Za-z0-9]{0,8}/[0-9]{0,7}(/[0-9]{0,3})?",
        "a=(ssrc|ssrc-group|extmap|fmtp|rtcp-fb|candidate):.{0,60}",
        ".{0,120}",
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Edit::Drop),
        any::<prop::sample::Index>().prop_map(Edit::Repeat),
        (any::<prop::sample::Index>(), sdp_line()).prop_map(|(i, l)| Edit::Replace(i, l)),
        (any::<prop::sample::Index>(), sdp_line()).prop_map(|(i, l)| Edit::Insert(i, l)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(i, c)| Edit::Truncate(i, c)),
    ]
}

fn apply(lines: &mut Vec<String>, edit: &Edit) {
    if lines.is_empty() {
        return;
    }
    match edit {
        Edit::Drop(i) => {
            lines.remove(i.index(lines.len()));
        }
        Edit::Repeat(i) => {
            let at = i.index(lines.len());
            lines.insert(at, lines[at].clone());
        }
        Edit::Replace(i, line) => {
            let at = i.index(lines.len());
            lines[at] = line.clone();
        }
        Edit::Insert(i, line) => lines.insert(i.index(lines.len() + 1), line.clone()),
        Edit::Truncate(i, c) => {
            let at = i.index(lines.len());
            let chars: Vec<char> = lines[at].chars().collect();
            lines[at] = chars[..c.index(chars.len() + 1)].iter().collect();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    /// Any text as an offer: an answer or an error, never a panic.
    #[test]
    fn any_text_as_an_offer_is_answered_or_refused_without_panicking(
        text in prop_oneof![".{0,400}", "v=0\r\n.{0,400}"],
    ) {
        let _ = count_media(&text, "video");
        let _ = answer(advertised(), &text);
    }

    /// A browser's offer with a few lines dropped, repeated, garbled or inserted: an answer or
    /// an error, never a panic; an answer has one m-line for each of the offer's.
    #[test]
    fn an_edited_offer_is_answered_or_refused_without_panicking(
        edits in prop::collection::vec(edit(), 1..6),
        line_ending in prop::sample::select(vec!["\r\n", "\n", "\r"]),
    ) {
        let mut lines: Vec<String> = OFFER.iter().map(|l| (*l).to_owned()).collect();
        for e in &edits {
            apply(&mut lines, e);
        }
        let offer = lines.join(line_ending) + line_ending;
        if let Ok((_, sdp)) = answer(advertised(), &offer) {
            prop_assert!(sdp.starts_with("v=0"), "{sdp}");
            prop_assert!(count_media(&sdp, "video") <= count_media(&offer, "video").max(1));
        }
    }

    /// A WHEP offer with any number of recvonly video slots (the probe sent 150): counting
    /// them and filling them never panics, and the slots match the m-lines one to one.
    #[test]
    fn whep_offers_with_many_slots_are_counted_and_filled_without_panicking(
        slots in 0usize..200,
        asked in prop::collection::vec("[a-z0-9][a-z0-9._-]{0,8}", 0..20),
        published in prop::collection::vec("[a-z0-9][a-z0-9._-]{0,8}", 0..20),
    ) {
        let mut offer = String::from("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
        offer.push_str(&format!(
            "a=group:BUNDLE {}\r\n",
            (0..slots).map(|m| m.to_string()).collect::<Vec<_>>().join(" ")
        ));
        for mid in 0..slots {
            offer.push_str(&recvonly_video(mid));
        }
        let counted = count_media(&offer, "video");
        prop_assert_eq!(counted, slots);
        let filled = initial_slots(counted, &asked, &published);
        prop_assert_eq!(filled.len(), slots);
        let _ = answer(advertised(), &offer);
    }
}
