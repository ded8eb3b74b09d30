//! Fuzzes the request decoder: arbitrary bytes, split at arbitrary points,
//! under both the normal and the pre-AUTH limits, must never panic, and a
//! decoded request must never hold more than the limits allow.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use weir_protocol::{Limits, RequestDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let small = Limits { max_bulk_len: 64, max_args: 8, ..Limits::default() };
    for limits in [Limits::default(), Limits::unauthenticated(), small] {
        let mut decoder = RequestDecoder::new(limits);
        let mut buf = BytesMut::new();
        let step = usize::from(split).max(1);
        for chunk in input.chunks(step) {
            buf.extend_from_slice(chunk);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(args)) => {
                        assert!(args.len() <= limits.max_args.max(1));
                        assert!(args.iter().all(|a| a.len() <= limits.max_bulk_len.max(limits.max_inline_len)));
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
        }
    }
});
