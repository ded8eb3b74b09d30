//! Opening the node's single write-ahead log and splitting what it replays
//! into the state each partition's log store starts from.
//!
//! Records are replayed in write order, so later records win: an entry at
//! index `i` replaces any earlier entry at `i` and everything after it (Raft's
//! log-matching rule), a truncate marker drops a suffix, and a purge marker
//! drops a prefix.

use crate::codec::{self, DecodeError, KIND_ENTRY, KIND_PURGE, KIND_TRUNCATE, KIND_VOTE};
use crate::types::{Entry, LogId, Vote};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use weir_log::{Log, LogConfig, OpenError, RecordRef};

/// What a partition's log store starts from after recovery.
#[derive(Default)]
pub struct RecoveredLog {
    pub entries: BTreeMap<u64, Entry>,
    pub vote: Option<Vote>,
    pub purged: Option<LogId>,
}

impl RecoveredLog {
    fn apply_entry(&mut self, entry: Entry) {
        let index = entry.log_id.index;
        self.entries.split_off(&index);
        self.entries.insert(index, entry);
    }

    fn apply_purge(&mut self, upto: Option<LogId>) {
        if let Some(id) = &upto {
            let keep = self.entries.split_off(&(id.index + 1));
            self.entries = keep;
        }
        if upto > self.purged {
            self.purged = upto;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("log record of partition {partition}, but this data folder has {partitions} partitions")]
    UnknownPartition { partition: u32, partitions: u32 },
    #[error("partition {partition}: {source}")]
    Decode { partition: u32, source: DecodeError },
    #[error("partition {partition}: unknown log record kind {kind}")]
    UnknownKind { partition: u32, kind: u8 },
}

/// Opens the node log and rebuilds every partition's log state.
pub fn open(config: LogConfig, partitions: u32) -> Result<(Arc<Log>, Vec<RecoveredLog>), OpenError<RecoverError>> {
    let mut logs: Vec<RecoveredLog> = (0..partitions).map(|_| RecoveredLog::default()).collect();
    let log = Log::open(config, |record: RecordRef<'_>| replay_one(&mut logs, partitions, record))?;
    Ok((Arc::new(log), logs))
}

fn replay_one(logs: &mut [RecoveredLog], partitions: u32, record: RecordRef<'_>) -> Result<(), RecoverError> {
    let partition = record.partition;
    let log = logs.get_mut(partition as usize).ok_or(RecoverError::UnknownPartition { partition, partitions })?;
    let decode_err = |source| RecoverError::Decode { partition, source };
    match record.kind {
        KIND_ENTRY => {
            let entry = codec::decode_entry(&Bytes::copy_from_slice(record.body)).map_err(decode_err)?;
            log.apply_entry(entry);
        }
        KIND_VOTE => log.vote = Some(codec::decode_vote(record.body).map_err(decode_err)?),
        KIND_TRUNCATE => {
            log.entries.split_off(&record.index);
        }
        KIND_PURGE => log.apply_purge(codec::decode_log_id(record.body).map_err(decode_err)?),
        kind => return Err(RecoverError::UnknownKind { partition, kind }),
    }
    Ok(())
}
