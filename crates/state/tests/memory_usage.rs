//! MEMORY USAGE's estimate (`Db::memory_usage`) against what the allocator
//! really hands out for one key: a counting allocator (rounding each
//! request to jemalloc's size class, as the node's allocator does) measures
//! the bytes a key adds to a `Db`, per type and size. The estimate must be
//! within `TOLERANCE` of it. One test function: the counter sees every
//! thread's allocations.

use bytes::Bytes;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::SeqCst};
use weir_state::memory_usage::alloc_size;
use weir_state::{Db, ExecCtx, Mode};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(alloc_size(layout.size()) as isize, SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(alloc_size(layout.size()) as isize, SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// How far the estimate may be from the measured bytes.
const TOLERANCE: f64 = 0.15;

fn run(db: &mut Db, words: &[String]) {
    let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.clone())).collect();
    let mut ctx = ExecCtx::new(1_000, Mode::Apply, 1);
    let reply = db.execute(&mut ctx, &args);
    assert!(!reply.is_error(), "{words:?}: {reply:?}");
}

/// Bytes `build` adds to a `Db` that already holds other keys (so the
/// table's first chunk is not counted), and the estimate for `key`.
fn measure(key: &str, build: impl Fn(&mut Db)) -> (isize, usize) {
    // Once on a throwaway state first: what a command sets up once per
    // process (lazy tables, thread-local buffers) is not the key's.
    build(&mut Db::new());
    let mut db = Db::new();
    for i in 0..100 {
        run(&mut db, &["SET".to_string(), format!("other:{i}"), "1".into()]);
    }
    // The key's place in the table is taken and given back once: the
    // table's slots come in chunks allocated on first use, and where the
    // key lands depends on the process's hash key.
    run(&mut db, &["SET".to_string(), key.to_string(), "1".into()]);
    run(&mut db, &["DEL".to_string(), key.to_string()]);
    let before = LIVE.load(SeqCst);
    build(&mut db);
    let measured = LIVE.load(SeqCst) - before;
    let estimate = db.memory_usage(key.as_bytes(), 1_000, 0).expect("the key exists");
    (measured, estimate)
}

fn check(name: &str, key: &str, build: impl Fn(&mut Db)) {
    let (measured, estimate) = measure(key, build);
    let ratio = estimate as f64 / measured as f64;
    eprintln!("{name}: measured {measured} bytes, estimated {estimate} ({ratio:.2})");
    assert!((1.0 - TOLERANCE..=1.0 + TOLERANCE).contains(&ratio), "{name}: {estimate} vs {measured} bytes");
}

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// One command per element, as clients send them.
fn each(db: &mut Db, n: usize, command: impl Fn(usize) -> Vec<String>) {
    for i in 0..n {
        run(db, &command(i));
    }
}

#[test]
fn memory_usage_is_within_tolerance_of_the_allocated_bytes() {
    check("long string", "s", |db| run(db, &words(&["SET", "s", &"x".repeat(5000)])));
    for n in [100, 10_000] {
        check(&format!("list of {n} short"), "l", |db| each(db, n, |i| words(&["RPUSH", "l", &format!("job:{i}")])));
        check(&format!("list of {n} long"), "l", |db| each(db, n, |i| words(&["RPUSH", "l", &format!("{i:040}")])));
        check(&format!("hash of {n}"), "h", |db| each(db, n, |i| words(&["HSET", "h", &format!("f{i}"), "value"])));
        check(&format!("set of {n}"), "t", |db| each(db, n, |i| words(&["SADD", "t", &format!("member:{i}")])));
        check(&format!("zset of {n}"), "z", |db| {
            each(db, n, |i| words(&["ZADD", "z", &((i * 7919) % 1000).to_string(), &format!("player:{i}")]))
        });
        check(&format!("stream of {n}"), "x", |db| {
            each(db, n, |i| words(&["XADD", "x", &format!("{}-1", i + 1), "order", &format!("o:{i}"), "qty", "2"]))
        });
    }
    // Sampling: equal elements are estimated exactly from five.
    let mut db = Db::new();
    each(&mut db, 5_000, |i| words(&["RPUSH", "l", &format!("{i:030}")]));
    let all = db.memory_usage(b"l", 1_000, 0).expect("exists");
    let sampled = db.memory_usage(b"l", 1_000, 5).expect("exists");
    assert_eq!(all, sampled, "equal elements: the sample is exact");
    assert_eq!(db.memory_usage(b"missing", 1_000, 5), None);
}
