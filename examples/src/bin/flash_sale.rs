//! A flash sale against weir (or any Redis): `--buyers` distinct users, one
//! in `--retry-every` sending their request twice, compete for `--stock`
//! units through `flash-sale/flash_sale.lua`. Prints the tally and checks
//! that orders = units sold and no buyer bought twice.
//!
//! ```text
//! cargo run --release -p weir-examples --bin flash-sale -- --url redis://127.0.0.1:6379
//! ```

use anyhow::{bail, Context};
use clap::Parser;
use futures::StreamExt;
use std::collections::HashMap;

/// The recipe: check stock, idempotency marker (SET NX), DECRBY, XADD.
const SCRIPT: &str = include_str!("../../flash-sale/flash_sale.lua");

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    url: String,
    #[arg(long, default_value_t = 10_000)]
    buyers: u64,
    #[arg(long, default_value_t = 1_000)]
    stock: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// One buyer in this many double-clicks (sends the same request twice).
    #[arg(long, default_value_t = 10)]
    retry_every: u64,
    /// The sale's id (its keys share the `{sale:ID}` hash tag: one slot).
    #[arg(long)]
    sale: Option<String>,
}

struct Sale {
    stock: String,
    orders: String,
    tag: String,
}

impl Sale {
    fn new(id: &str) -> Sale {
        let tag = format!("{{sale:{id}}}");
        Sale { stock: format!("{tag}:stock"), orders: format!("{tag}:orders"), tag }
    }

    fn buyer(&self, user: u64) -> String {
        format!("{}:buyer:{user}", self.tag)
    }
}

async fn purchase(
    conn: &mut redis::aio::MultiplexedConnection,
    script: &redis::Script,
    sale: &Sale,
    user: u64,
) -> redis::RedisResult<String> {
    let mut call = script.prepare_invoke();
    call.key(&sale.stock).key(sale.buyer(user)).key(&sale.orders);
    call.arg(user).arg(1).arg(format!("req-{user}")).invoke_async(conn).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let id = args.sale.clone().unwrap_or_else(|| format!("{}", std::process::id()));
    let sale = Sale::new(&id);
    let client = redis::Client::open(args.url.as_str()).context("bad --url")?;
    let conn = client.get_multiplexed_async_connection().await.context("connect")?;
    let script = redis::Script::new(SCRIPT);
    redis::pipe().set(&sale.stock, args.stock).del(&sale.orders).exec_async(&mut conn.clone()).await?;

    let started = std::time::Instant::now();
    let clicks = (0..args.buyers).flat_map(|user| {
        let twice = args.retry_every > 0 && user.is_multiple_of(args.retry_every);
        std::iter::repeat_n(user, if twice { 2 } else { 1 })
    });
    let replies = futures::stream::iter(clicks)
        .map(|user| {
            let (mut conn, script, sale) = (conn.clone(), &script, &sale);
            async move { purchase(&mut conn, script, sale, user).await }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let elapsed = started.elapsed();

    let mut tally: HashMap<String, u64> = HashMap::new();
    for reply in replies {
        *tally.entry(reply?).or_default() += 1;
    }
    let mut conn = conn.clone();
    let left: i64 = redis::cmd("GET").arg(&sale.stock).query_async(&mut conn).await?;
    let entries: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg(&sale.orders).arg("-").arg("+").query_async(&mut conn).await?;
    let orders: Vec<String> = entries.into_iter().filter_map(|(_, fields)| fields.get(1).cloned()).collect();
    let mut users: Vec<&str> = orders.iter().filter_map(|o| o.split(':').next()).collect();
    users.sort_unstable();
    users.dedup();
    println!("sale {id}: {:?} in {elapsed:.2?}", tally);
    println!("stock left {left}, {} orders from {} distinct buyers", orders.len(), users.len());
    let sold = args.stock as i64 - left;
    if left < 0 || orders.len() as i64 != sold || users.len() != orders.len() {
        bail!("invariant broken: {sold} sold, {} orders, {} buyers", orders.len(), users.len());
    }
    if tally.get("ok").copied().unwrap_or(0) != orders.len() as u64 {
        bail!("{:?} ok replies but {} orders", tally.get("ok"), orders.len());
    }
    println!("ok: orders = units sold, no buyer twice, stock never below zero");
    Ok(())
}
