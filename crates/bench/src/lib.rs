//! weir bench: a load generator for any RESP server, with scenarios, invariants and reports.
