//! TEMP: replaced by the feeds branch at merge (issue 15 contract). A stand-in with the
//! contract's signatures so that `seed` compiles: it publishes nothing.

use std::sync::Arc;

use crate::sfu::{PeerInfo, Sfu};

/// A parsed synthetic clip (the feeds branch defines the real one).
#[derive(Debug)]
pub struct Clip;

/// The three built-in synthetic clips (the stand-in has the labels, and no media).
pub fn builtin() -> anyhow::Result<Vec<(String, Arc<Clip>)>> {
    Ok(["endoscope", "room-camera", "vitals"]
        .into_iter()
        .map(|label| (label.to_owned(), Arc::new(Clip)))
        .collect())
}

/// One source published by the server into its own SFU (the stand-in publishes nothing).
pub struct SyntheticPublisher {
    _label: String,
}

impl SyntheticPublisher {
    /// Starts publishing `clip` as `label` with the identity in `info`.
    pub fn start(
        _sfu: Arc<Sfu>,
        _info: PeerInfo,
        label: String,
        _clip: Arc<Clip>,
    ) -> SyntheticPublisher {
        SyntheticPublisher { _label: label }
    }

    /// Stops publishing and waits for the task to end.
    pub async fn stop(self) {}
}
