//! The node's write-ahead log: checksummed segments, one group-commit writer thread, recovery.
