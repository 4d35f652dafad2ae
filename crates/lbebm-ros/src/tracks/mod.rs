//! Incoming `People` messages → checked observations → per-track histories → scenes.
//!
//! Nothing here trusts message data: non-finite numbers, empty or repeated names,
//! invalid stamps, out-of-order and duplicate stamps, ids reused for another person
//! and oversized messages are counted and skipped or clipped, never a panic.
//!
//! Modules (each uses only those listed before it): `check` (message checking:
//! [`check_people`]), `history` (one track's raw history and its resampling onto the
//! model's grid), `store` (the live tracks: [`TrackStore`]), `scene` (scene building:
//! [`TrackStore::scene`], [`SceneJob`]).

mod check;
mod history;
mod scene;
mod store;

pub use check::{check_people, CheckReport, CheckedPeople, MessageError};
pub use scene::{AgentMeta, Role, SceneJob};
pub use store::{ObserveReport, TrackConfig, TrackStore};
