//! The SFU, black-box: real servers and real, independent WebRTC peers (aiortc in Python,
//! headless Chromium), publishing over WHIP and subscribing over WHEP; the media events each
//! test causes are asserted in the log, in order.

mod aiortc;
mod browser;
mod multinode;
mod signalling;
pub(crate) mod support;
mod turn;
