//! What a command stores is its own copy, never a slice of its Raft batch:
//! a command's arguments are slices of the whole batch, and a stored slice
//! would keep all of it alive (up to the batch's byte limit) for as long as
//! the value lives, unaccounted.

use bytes::Bytes;
use weir_state::value::Value;
use weir_state::{BatchBuilder, Db};

fn args(words: &[&str]) -> Vec<Bytes> {
    words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
}

/// Whether `stored` points into `batch`.
fn inside(stored: &[u8], batch: &Bytes) -> bool {
    let range = batch.as_ptr_range();
    !stored.is_empty() && range.contains(&stored.as_ptr())
}

#[test]
fn streams_and_groups_keep_no_slice_of_their_batch() {
    let mut builder = BatchBuilder::new(1_000, 7);
    builder.push_command(&args(&["XGROUP", "CREATE", "orders", "workers", "$", "MKSTREAM"]));
    builder.push_command(&args(&["XADD", "orders", "*", "order", "o:1", "qty", "3"]));
    builder.push_command(&args(&["XREADGROUP", "GROUP", "workers", "alice", "COUNT", "10", "STREAMS", "orders", ">"]));
    builder.push_command(&args(&["XAUTOCLAIM", "orders", "workers", "bob", "0", "0-0"]));
    builder.push_command(&args(&["XREADGROUP", "GROUP", "workers", "carol", "STREAMS", "orders", "0"]));
    let batch = builder.finish();
    let mut db = Db::new();
    let replies = db.apply_batch(&batch).expect("applies");
    assert!(replies.iter().all(|r| !matches!(r, weir_protocol::Frame::Error(_))), "{replies:?}");

    let Some(Value::Stream(stream)) = db.get(b"orders", 1_000).map(|e| &e.value) else { panic!("a stream") };
    let mut stored: Vec<&[u8]> = Vec::new();
    for entry in stream.entries.values() {
        stored.extend(entry.fields.iter());
    }
    for (name, group) in &stream.groups {
        stored.push(name);
        stored.extend(group.consumers.keys().map(|k| &k[..]));
        stored.extend(group.pel.values().map(|p| &p.consumer[..]));
    }
    assert_eq!(stored.len(), 4 + 1 + 3 + 1, "fields, the group, alice, bob and carol, bob's pending entry");
    for bytes in stored {
        assert!(!inside(bytes, &batch), "{bytes:?} is a slice of the batch");
    }
}
