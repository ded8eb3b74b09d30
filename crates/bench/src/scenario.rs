//! The write scenarios: what each request sends, what counts as an
//! acknowledgement, and the invariant checked at the end against the
//! server's state. Keys carry a per-run prefix so every check is exact.

use crate::client::{Client, Reply};
use crate::keys::KeyPicker;
use crate::BenchError;
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// INCR on Zipf-distributed keys: the sum of counters equals the acknowledged increments.
    Likes,
    /// RPUSH an order record to a per-SKU queue: list lengths equal the acknowledged pushes.
    Orders,
    /// MULTI/EXEC moving an amount between two accounts of one {guild}: the total balance is unchanged.
    Trades,
    /// ZINCRBY on a leaderboard: the sum of scores equals the acknowledged increments.
    Leaderboard,
    /// Buyers contend for limited stock: orders = stock sold, never negative, no buyer twice.
    FlashSale,
    /// --command with __rand_int__ and __data__ placeholders: no error replies.
    Custom,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlashMode {
    /// The atomic EVAL script when the server has EVAL, else WATCH/MULTI.
    Auto,
    /// EVAL with the script's text on every request.
    Script,
    /// The script loaded once (SCRIPT LOAD), then EVALSHA with its SHA1, as
    /// client libraries' script objects send it. A server that forgets it
    /// (a restart, a failover to a node that never ran it) answers NOSCRIPT,
    /// counted as an error.
    Evalsha,
    /// WATCH/MULTI/EXEC retried until it commits.
    Watch,
}

impl FlashMode {
    /// Whether purchases run the script (EVAL or EVALSHA).
    pub fn scripted(self) -> bool {
        matches!(self, FlashMode::Script | FlashMode::Evalsha)
    }
}

/// Accounts per guild in `trades`, each starting with this balance.
const ACCOUNTS_PER_GUILD: u64 = 10;
const START_BALANCE: i64 = 1000;
/// The flash-sale recipe (the README's): check the buyer's marker and the
/// stock, mark the buyer (SET NX), DECRBY, XADD the order.
const FLASH_SCRIPT: &str = include_str!("../../../examples/flash-sale/flash_sale.lua");

/// What the clients were told, per scenario.
#[derive(Default, Debug)]
pub struct Ledger {
    pub acked: AtomicU64,
    pub bought: AtomicU64,
    pub sold_out: AtomicU64,
    pub duplicates: AtomicU64,
    pub watch_retries: AtomicU64,
    pub negative_stock_seen: AtomicU64,
}

pub struct Scenario {
    pub kind: Kind,
    pub prefix: String,
    pub keys: u64,
    pub picker: KeyPicker,
    pub value: Vec<u8>,
    pub stock: u64,
    pub flash: FlashMode,
    pub template: Vec<String>,
    pub ledger: Ledger,
    /// Requests that depend only on the key, encoded once per key (the
    /// generator must not be what limits the result).
    pub encoded: Vec<Vec<u8>>,
    /// The flash-sale script's SHA1 as the server returned it (`Evalsha`).
    pub script_sha: Option<Vec<u8>>,
}

/// Keys up to this count get their requests pre-encoded.
const MAX_PREENCODED_KEYS: u64 = 1_000_000;

/// How one request's replies came out.
pub enum Outcome {
    Ack,
    Error(String),
}

fn b(s: impl AsRef<[u8]>) -> Vec<u8> {
    s.as_ref().to_vec()
}

fn error_kind(text: &str) -> String {
    text.split_whitespace().next().unwrap_or("ERR").to_string()
}

impl Scenario {
    fn guilds(&self) -> u64 {
        (self.keys / ACCOUNTS_PER_GUILD).max(1)
    }

    fn guild_key(&self, g: u64) -> String {
        format!("{{{}:g{g}}}:balances", self.prefix)
    }

    fn sale_key(&self, what: &str) -> String {
        format!("{{{}:sale}}:{what}", self.prefix)
    }

    /// Encodes one request into `out`; returns how many commands it holds.
    pub fn encode_request(&self, rng: &mut impl Rng, out: &mut Vec<u8>) -> usize {
        if !self.encoded.is_empty() {
            let k = self.picker.pick(rng) as usize;
            out.extend_from_slice(&self.encoded[k]);
            return 1;
        }
        let commands = self.request(rng);
        for args in &commands {
            crate::client::encode(out, args);
        }
        commands.len()
    }

    /// Pre-encodes the key-only requests (likes, leaderboard).
    pub fn preencode(&mut self) {
        let keyed = matches!(self.kind, Kind::Likes | Kind::Leaderboard);
        if !keyed || self.keys > MAX_PREENCODED_KEYS {
            return;
        }
        self.encoded = (0..self.keys)
            .map(|k| {
                let mut out = Vec::new();
                crate::client::encode(&mut out, &self.request_for(k));
                out
            })
            .collect();
    }

    fn request_for(&self, k: u64) -> Vec<Vec<u8>> {
        match self.kind {
            Kind::Leaderboard => {
                vec![b("ZINCRBY"), b(format!("{}:leaderboard", self.prefix)), b("1"), b(format!("player:{k}"))]
            }
            _ => vec![b("INCR"), b(format!("{}:likes:{k}", self.prefix))],
        }
    }

    /// The commands of one request.
    pub fn request(&self, rng: &mut impl Rng) -> Vec<Vec<Vec<u8>>> {
        let k = self.picker.pick(rng);
        match self.kind {
            Kind::Likes | Kind::Leaderboard => vec![self.request_for(k)],
            Kind::Orders => {
                let id: u64 = rng.gen();
                let record =
                    format!("id={id:x};user={};sku={k};amount={}", rng.gen_range(0..100_000), rng.gen_range(1..500));
                vec![vec![b("RPUSH"), b(format!("{}:orders:{k}", self.prefix)), b(record)]]
            }
            Kind::Trades => {
                let key = self.guild_key(k % self.guilds());
                let from = rng.gen_range(0..ACCOUNTS_PER_GUILD);
                let to = (from + rng.gen_range(1..ACCOUNTS_PER_GUILD)) % ACCOUNTS_PER_GUILD;
                let amount = rng.gen_range(1..50).to_string();
                vec![
                    vec![b("MULTI")],
                    vec![b("HINCRBY"), b(&key), b(format!("a{from}")), b(format!("-{amount}"))],
                    vec![b("HINCRBY"), b(&key), b(format!("a{to}")), b(amount)],
                    vec![b("EXEC")],
                ]
            }
            Kind::FlashSale => vec![vec![
                match self.script_sha {
                    Some(_) => b("EVALSHA"),
                    None => b("EVAL"),
                },
                self.script_sha.clone().unwrap_or_else(|| b(FLASH_SCRIPT)),
                b("3"),
                b(self.sale_key("stock")),
                b(self.sale_key(&format!("buyer:{k}"))),
                b(self.sale_key("orders")),
                b(k.to_string()),
                b("1"),
                b(format!("req-{k}")),
            ]],
            Kind::Custom => vec![self
                .template
                .iter()
                .map(|word| {
                    if word.contains("__rand_int__") {
                        b(word.replace("__rand_int__", &format!("{k:012}")))
                    } else if word == "__data__" {
                        self.value.clone()
                    } else {
                        b(word)
                    }
                })
                .collect()],
        }
    }

    /// Books one request's replies.
    pub fn settle(&self, replies: &[Reply]) -> Outcome {
        if let Some(Reply::Error(e)) = replies.iter().find(|r| r.is_error()) {
            return Outcome::Error(error_kind(e));
        }
        match (self.kind, replies.last()) {
            (Kind::Trades, Some(Reply::Array(None))) => return Outcome::Error("EXECABORT".into()),
            (Kind::FlashSale, Some(reply)) => self.book_purchase(reply.as_text().as_deref()),
            _ => {}
        }
        self.ledger.acked.fetch_add(1, Relaxed);
        Outcome::Ack
    }

    fn book_purchase(&self, status: Option<&str>) {
        let counter = match status {
            Some("ok") => &self.ledger.bought,
            Some("sold_out") => &self.ledger.sold_out,
            _ => &self.ledger.duplicates,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// The command this scenario cannot run without, probed before the load.
    fn needs(&self) -> Option<(&'static str, Vec<Vec<u8>>)> {
        let probe = b(format!("{}:probe", self.prefix));
        match self.kind {
            Kind::Orders => Some(("RPUSH", vec![b("RPUSH"), probe, b("x")])),
            Kind::Leaderboard => Some(("ZINCRBY", vec![b("ZINCRBY"), probe, b("1"), b("x")])),
            Kind::Trades => Some(("HINCRBY", vec![b("HINCRBY"), probe, b("f"), b("1")])),
            Kind::FlashSale if self.flash.scripted() => Some(("EVAL", vec![b("EVAL"), b("return 1"), b("0")])),
            Kind::FlashSale => Some(("WATCH", vec![b("WATCH"), probe])),
            Kind::Likes => Some(("INCR", vec![b("INCR"), probe])),
            Kind::Custom => None,
        }
    }

    /// Probes the server and prepares the scenario's keys.
    pub async fn setup(&mut self, client: &mut Client, url: &str) -> Result<(), BenchError> {
        if self.kind == Kind::FlashSale && self.flash == FlashMode::Auto {
            let reply = client.call(&[b("EVAL"), b("return 1"), b("0")]).await?;
            self.flash = if reply.is_error() { FlashMode::Watch } else { FlashMode::Script };
        }
        if let Some((command, probe)) = self.needs() {
            let reply = client.call(&probe).await?;
            if let Reply::Error(e) = reply {
                if e.to_lowercase().contains("unknown command") {
                    return Err(BenchError::Unsupported(format!(
                        "the server at {url} lacks {command}, which the {} scenario needs ({e})",
                        format!("{:?}", self.kind).to_lowercase()
                    )));
                }
            }
            client.call(&[b("DEL"), b(format!("{}:probe", self.prefix))]).await?;
            if command == "WATCH" {
                client.call(&[b("UNWATCH")]).await?;
            }
        }
        if self.kind == Kind::FlashSale && self.flash == FlashMode::Evalsha {
            self.script_sha = Some(self.load_script(client, url).await?);
        }
        self.preencode();
        match self.kind {
            Kind::Trades => self.setup_trades(client).await,
            Kind::FlashSale => {
                client.call(&[b("SET"), b(self.sale_key("stock")), b(self.stock.to_string())]).await?;
                client.call(&[b("DEL"), b(self.sale_key("orders"))]).await.map(|_| ()).map_err(BenchError::from)
            }
            _ => Ok(()),
        }
    }

    /// SCRIPT LOAD of the flash-sale script: its SHA1.
    async fn load_script(&self, client: &mut Client, url: &str) -> Result<Vec<u8>, BenchError> {
        match client.call(&[b("SCRIPT"), b("LOAD"), b(FLASH_SCRIPT)]).await? {
            Reply::Bulk(Some(sha)) if sha.len() == 40 => Ok(sha),
            other => Err(BenchError::Unsupported(format!("SCRIPT LOAD at {url} answered {other:?}"))),
        }
    }

    async fn setup_trades(&self, client: &mut Client) -> Result<(), BenchError> {
        for g in 0..self.guilds() {
            let mut args = vec![b("HSET"), b(self.guild_key(g))];
            for a in 0..ACCOUNTS_PER_GUILD {
                args.push(b(format!("a{a}")));
                args.push(b(START_BALANCE.to_string()));
            }
            if let Reply::Error(e) = client.call(&args).await? {
                return Err(BenchError::Unsupported(format!("trades setup failed: {e}")));
            }
        }
        Ok(())
    }

    /// One WATCH/MULTI purchase attempt loop (the flash-sale fallback).
    /// Returns the request's outcome; retries are counted in the ledger.
    pub async fn watch_purchase(&self, client: &mut Client, user: u64) -> Result<Outcome, BenchError> {
        let (stock, orders) = (b(self.sale_key("stock")), b(self.sale_key("orders")));
        let buyer = b(self.sale_key(&format!("buyer:{user}")));
        loop {
            client.call(&[b("WATCH"), stock.clone(), buyer.clone()]).await?;
            if client.call(&[b("EXISTS"), buyer.clone()]).await?.as_int() == Some(1) {
                client.call(&[b("UNWATCH")]).await?;
                return Ok(self.settle(&[Reply::Status("duplicate".into())]));
            }
            let left = client.call(&[b("GET"), stock.clone()]).await?.as_int().unwrap_or(0);
            if left < 1 {
                client.call(&[b("UNWATCH")]).await?;
                return Ok(self.settle(&[Reply::Status("sold_out".into())]));
            }
            let mut pipeline = Vec::new();
            for args in [
                vec![b("MULTI")],
                vec![b("DECRBY"), stock.clone(), b("1")],
                vec![b("SET"), buyer.clone(), b(format!("req-{user}")), b("NX")],
                vec![b("XADD"), orders.clone(), b("*"), b("order"), b(format!("{user}:1:req-{user}"))],
                vec![b("EXEC")],
            ] {
                crate::client::encode(&mut pipeline, &args);
            }
            client.send(&pipeline).await?;
            let mut replies = Vec::new();
            for _ in 0..5 {
                replies.push(client.read_reply().await?);
            }
            match replies.last() {
                Some(Reply::Array(Some(results))) => {
                    if results.first().and_then(Reply::as_int).is_some_and(|n| n < 0) {
                        self.ledger.negative_stock_seen.fetch_add(1, Relaxed);
                    }
                    return Ok(self.settle(&[Reply::Status("ok".into())]));
                }
                Some(Reply::Array(None)) => {
                    self.ledger.watch_retries.fetch_add(1, Relaxed);
                }
                _ => return Ok(self.settle(&replies)),
            }
        }
    }
}

/// The end-of-run check.
pub async fn verify(scenario: &Scenario, client: &mut Client) -> Result<String, String> {
    let l = &scenario.ledger;
    let acked = l.acked.load(Relaxed);
    match scenario.kind {
        Kind::Likes => {
            let total = sum_over(client, scenario, |k| vec![b("GET"), b(format!("{}:likes:{k}", scenario.prefix))])
                .await
                .map_err(io)?;
            expect_eq("sum of counters", total, acked as i64, "acknowledged INCRs")
        }
        Kind::Orders => {
            let total = sum_over(client, scenario, |k| vec![b("LLEN"), b(format!("{}:orders:{k}", scenario.prefix))])
                .await
                .map_err(io)?;
            expect_eq("sum of list lengths", total, acked as i64, "acknowledged RPUSHes")
        }
        Kind::Leaderboard => {
            let reply = client
                .call(&[b("ZRANGE"), b(format!("{}:leaderboard", scenario.prefix)), b("0"), b("-1"), b("WITHSCORES")])
                .await
                .map_err(io)?;
            let total: f64 = match reply {
                Reply::Array(Some(items)) => {
                    items.iter().skip(1).step_by(2).filter_map(|s| s.as_text()?.parse::<f64>().ok()).sum()
                }
                other => return Err(format!("ZRANGE answered {other:?}")),
            };
            expect_eq("sum of scores", total as i64, acked as i64, "acknowledged ZINCRBYs")
        }
        Kind::Trades => {
            let mut total = 0i64;
            for g in 0..scenario.guilds() {
                if let Reply::Array(Some(items)) =
                    client.call(&[b("HVALS"), b(scenario.guild_key(g))]).await.map_err(io)?
                {
                    total += items.iter().filter_map(Reply::as_int).sum::<i64>();
                }
            }
            let expected = scenario.guilds() as i64 * ACCOUNTS_PER_GUILD as i64 * START_BALANCE;
            expect_eq("total balance", total, expected, "the starting total")
        }
        Kind::FlashSale => verify_flash(scenario, client).await,
        Kind::Custom => Ok(format!("{acked} requests acknowledged without error")),
    }
}

async fn verify_flash(scenario: &Scenario, client: &mut Client) -> Result<String, String> {
    let l = &scenario.ledger;
    let left = client.call(&[b("GET"), b(scenario.sale_key("stock"))]).await.map_err(io)?.as_int().unwrap_or(0);
    let listed = client.call(&[b("XRANGE"), b(scenario.sale_key("orders")), b("-"), b("+")]).await.map_err(io)?;
    let Reply::Array(Some(listed)) = listed else { return Err(format!("XRANGE answered {listed:?}")) };
    // Each entry: [id, ["order", "user:qty:request"]].
    let record = |entry: &Reply| match entry {
        Reply::Array(Some(parts)) => match parts.get(1) {
            Some(Reply::Array(Some(fields))) => fields.get(1)?.as_text(),
            _ => None,
        },
        _ => None,
    };
    let mut buyers: Vec<String> =
        listed.iter().filter_map(|o| Some(record(o)?.split(':').next()?.to_string())).collect();
    let orders = buyers.len() as i64;
    buyers.sort_unstable();
    buyers.dedup();
    let bought = l.bought.load(Relaxed) as i64;
    let sold = scenario.stock as i64 - left;
    if left < 0 || l.negative_stock_seen.load(Relaxed) > 0 {
        return Err(format!("stock went below zero ({left})"));
    }
    if orders != sold {
        return Err(format!("{orders} orders but {sold} units sold"));
    }
    if buyers.len() as i64 != orders {
        return Err(format!("{orders} orders from {} distinct buyers: a buyer bought twice", buyers.len()));
    }
    if bought != orders {
        return Err(format!("{bought} buyers were told ok but there are {orders} orders (an ok was lost)"));
    }
    Ok(format!(
        "{orders} orders = {} stock - {left} left; no buyer twice; {} sold out, {} duplicate attempts",
        scenario.stock,
        l.sold_out.load(Relaxed),
        l.duplicates.load(Relaxed)
    ))
}

fn expect_eq(what: &str, got: i64, want: i64, of: &str) -> Result<String, String> {
    if got == want {
        Ok(format!("{what} = {got} = {of}"))
    } else {
        Err(format!("{what} is {got}, but there were {want} {of}"))
    }
}

/// Sums one integer reply per key, pipelined in chunks (keys may live in
/// different slots, so no multi-key command is used).
async fn sum_over(
    client: &mut Client,
    scenario: &Scenario,
    command: impl Fn(u64) -> Vec<Vec<u8>>,
) -> Result<i64, BenchError> {
    const CHUNK: u64 = 1000;
    let mut total = 0;
    let mut start = 0;
    while start < scenario.keys {
        let end = (start + CHUNK).min(scenario.keys);
        let mut out = Vec::new();
        for k in start..end {
            crate::client::encode(&mut out, &command(k));
        }
        client.send(&out).await?;
        for _ in start..end {
            total += client.read_reply().await?.as_int().unwrap_or(0);
        }
        start = end;
    }
    Ok(total)
}

/// Any error as the verdict's text.
fn io(e: impl std::fmt::Display) -> String {
    e.to_string()
}
