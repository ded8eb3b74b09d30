//! Replication: each partition as an openraft group, its log storage and state machine.
