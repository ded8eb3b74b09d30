//! The node: RESP and HTTP front ends, connections, routing to partitions, batching.
