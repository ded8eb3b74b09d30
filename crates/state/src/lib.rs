//! Partition state: the keyspace, data types, command semantics and the log batch format.
