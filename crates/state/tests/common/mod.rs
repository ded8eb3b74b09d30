//! Shared by the model tests: the determinism check every one of them ends
//! with (replaying the same batches, or loading a snapshot, gives the
//! identical state).

use bytes::Bytes;
use proptest::prelude::*;
use weir_state::Db;

/// Replays `encoded` into a fresh `Db` and round-trips `db` through a
/// snapshot: both must equal `db`.
pub fn deterministic(db: &Db, encoded: &[Bytes]) -> Result<(), TestCaseError> {
    let mut replayed = Db::new();
    for bytes in encoded {
        replayed.apply_batch(bytes).expect("replays");
    }
    prop_assert!(replayed == *db, "replay diverged");
    let mut snapshot = Vec::new();
    db.write_snapshot(&mut snapshot);
    prop_assert!(Db::read_snapshot(&snapshot).expect("loads") == *db, "snapshot diverged");
    Ok(())
}
