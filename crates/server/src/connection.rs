//! One RESP client: decode, execute, reply, in order, with any pipeline
//! depth.
//!
//! Writes from one read of the socket are all submitted before any reply is
//! awaited, so a pipeline's writes join the same batches; consecutive plain
//! writes to one partition travel as one proposal ([`crate::pipeline`]). A command that
//! reads state first waits for this client's earlier writes (a client always
//! sees its own writes). Memory per client is bounded: the decoder bounds
//! the input, replies are flushed to the socket as they accumulate, and a
//! client that stops reading is disconnected.

use crate::commands::Resolved;
use crate::dispatch::{abandoned, needs_barrier, Reply};
use crate::node::Node;
use crate::pipeline::Pipeline;
use crate::session::{ClientEntry, Session};
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_util::codec::Decoder;
use weir_protocol::{encode, Frame, Limits, RequestDecoder};
use weir_state::names::LastName;
use weir_state::Access;

/// Replies awaited at most at once per client before they are drained.
const MAX_PENDING: usize = 1024;
/// Encoded replies are written out once this many bytes accumulate.
const FLUSH_BYTES: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;

struct Pending {
    command: Option<usize>,
    started: Instant,
    reply: Reply,
    /// A blocking call (BLPOP, XREAD BLOCK...): while it waits, a hang-up
    /// ends the connection, so its parked command never runs for nobody.
    blocking: bool,
    /// The command as SLOWLOG would log it, kept until its reply.
    logged: Option<Logged>,
}

/// A command kept for SLOWLOG: most arrive whole and are kept as received
/// (moved, not copied: `RequestDecoder::take_whole`), the rest as their
/// arguments. A clone of every command's arguments cost ~400 of LPUSH's
/// ~10k instructions per request (callgrind).
enum Logged {
    Raw(Bytes),
    Args(Vec<Bytes>),
}

impl Logged {
    fn args(&self) -> Vec<Bytes> {
        match self {
            Logged::Raw(raw) => weir_protocol::args_of(raw),
            Logged::Args(args) => args.clone(),
        }
    }
}

struct Conn<'a> {
    node: &'a Node,
    /// When the commands being run arrived (the last read of the socket):
    /// one clock read per read, shared by a pipeline's commands.
    arrived: Instant,
    session: Session,
    pending: VecDeque<Pending>,
    out: BytesMut,
    writer: OwnedWriteHalf,
    reader: OwnedReadHalf,
    /// Bytes read but not yet decoded.
    input: BytesMut,
    /// Plain writes grouped per partition, and the groups' replies.
    pipeline: Pipeline,
    /// The last command name resolved (a pipeline mostly repeats one).
    last: LastName<Resolved>,
}

pub async fn serve(node: &Node, stream: TcpStream, client: Arc<ClientEntry>) {
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    let needs_auth = node.config.requirepass.is_some();
    let mut decoder = RequestDecoder::new(if needs_auth { Limits::unauthenticated() } else { limits(node) });
    let mut conn = Conn {
        node,
        arrived: Instant::now(),
        session: Session::new(client, needs_auth),
        pending: VecDeque::new(),
        out: BytesMut::with_capacity(READ_CHUNK),
        writer,
        reader,
        input: BytesMut::with_capacity(READ_CHUNK),
        pipeline: Pipeline::default(),
        last: LastName::default(),
    };
    loop {
        match conn.run_buffered(&mut decoder).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(reason) => {
                tracing::debug!(client = conn.session.id, %reason, "closing connection");
                break;
            }
        }
        if !conn.read_more().await {
            break;
        }
    }
    // Writes read before the connection ended still run, as Redis runs
    // what it read (a failed reply write can end it mid-pipeline).
    conn.pipeline.propose(node, false).await;
    node.pubsub.unsubscribe_all(&mut conn.session.pubsub, conn.session.id);
}

/// Commands whose arguments may hold a password: never in SLOWLOG.
fn secret(resolved: Option<Resolved>) -> bool {
    use crate::commands::ServerCommand::{Auth, Hello};
    matches!(resolved, Some(Resolved::Server(Auth | Hello, _, _)))
}

fn limits(node: &Node) -> Limits {
    Limits {
        max_bulk_len: node.config.max_bulk_len,
        max_args: node.config.max_args,
        max_query_buffer: node.config.max_query_buffer,
        ..Limits::default()
    }
}

impl Conn<'_> {
    /// Executes every complete command in `input`, then flushes the replies.
    /// Returns false when the connection must close.
    async fn run_buffered(&mut self, decoder: &mut RequestDecoder) -> Result<bool, String> {
        self.arrived = Instant::now();
        self.session.arrived(self.arrived);
        self.session.client.active_at(self.arrived);
        loop {
            match decoder.decode(&mut self.input) {
                Ok(Some(args)) => {
                    let was_authenticated = self.session.authenticated;
                    let raw = decoder.take_whole();
                    self.run_one(args, raw).await?;
                    if self.session.authenticated && !was_authenticated {
                        decoder.set_limits(limits(self.node));
                    }
                    if self.session.closing {
                        self.flush().await?;
                        return Ok(false);
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    self.node.stats.protocol_errors.fetch_add(1, Relaxed);
                    self.drain().await?;
                    let text = error.reply_text();
                    self.node.stats.errors.count(text.as_bytes());
                    self.out.extend_from_slice(b"-");
                    self.out.extend_from_slice(text.as_bytes());
                    self.out.extend_from_slice(b"\r\n");
                    self.flush().await?;
                    return Ok(false);
                }
            }
        }
        self.flush().await?;
        Ok(true)
    }

    async fn run_one(&mut self, args: Vec<Bytes>, raw: Option<Bytes>) -> Result<(), String> {
        let resolved = args.first().and_then(|name| self.last.get(name, crate::commands::resolve));
        if needs_barrier(self.node, &self.session, resolved, &args) {
            self.drain().await?;
        }
        // A blocking call is watched while it waits; a plain write joins
        // this connection's group for its partition (`crate::pipeline`).
        let (blocking, stage) = match resolved {
            Some(Resolved::Data(spec, _)) if self.session.multi.is_none() => {
                let blocks = spec.block_timeout(&args).is_some();
                (blocks, !blocks && spec.access == Access::Write)
            }
            _ => (false, false),
        };
        let started = self.arrived;
        let logged = match self.node.slowlog.enabled() && !blocking && !secret(resolved) {
            false => None,
            true => Some(raw.map_or_else(|| Logged::Args(args.clone()), Logged::Raw)),
        };
        // Anything but a plain write goes after the writes grouped so far.
        if !stage {
            self.pipeline.propose(self.node, self.session.returning()).await;
        }
        self.session.settled = self.pending.is_empty();
        let (command, reply) = self.node.execute(&mut self.session, resolved, args, stage).await;
        let reply = match reply {
            Reply::Staged { partition, args } => {
                let session = &self.session;
                self.pipeline.push(self.node, partition, args, || session.returning()).await;
                Reply::Grouped
            }
            reply => reply,
        };
        match reply {
            Reply::HangUp => {
                self.drain().await?;
                self.session.closing = true;
            }
            Reply::Several(frames) => {
                self.drain().await?;
                let now = Instant::now();
                for (i, frame) in frames.iter().enumerate() {
                    // Counted once, as one command.
                    let counted = if i == 0 { command } else { None };
                    self.emit(counted, started, now, frame, logged.as_ref().filter(|_| i == 0))?;
                }
            }
            Reply::Now(frame) if self.pending.is_empty() => {
                self.emit(command, started, Instant::now(), &frame, logged.as_ref())?
            }
            reply => self.pending.push_back(Pending { command, started, reply, blocking, logged }),
        }
        if self.pending.len() >= MAX_PENDING {
            self.drain().await?;
        }
        if self.out.len() >= FLUSH_BYTES {
            self.write_out().await?;
        }
        Ok(())
    }

    /// Awaits every pending reply, in order, into the output buffer. The
    /// clock is read again only after a reply had to be waited for: a
    /// batch answers a pipeline's commands together.
    async fn drain(&mut self) -> Result<(), String> {
        self.pipeline.propose(self.node, self.session.returning()).await;
        let mut now = Instant::now();
        while let Some(pending) = self.pending.pop_front() {
            let frame = match pending.reply {
                Reply::Now(frame) => frame,
                Reply::Later(mut rx) => match rx.try_recv() {
                    Ok(frame) => frame,
                    Err(oneshot::error::TryRecvError::Closed) => abandoned(),
                    Err(oneshot::error::TryRecvError::Empty) => {
                        let frame = match pending.blocking {
                            true => self.await_watching(rx).await?,
                            false => rx.await.unwrap_or_else(|_| abandoned()),
                        };
                        now = Instant::now();
                        frame
                    }
                },
                Reply::Grouped => {
                    let (frame, waited) = self.pipeline.next_reply().await;
                    if waited {
                        now = Instant::now();
                    }
                    frame
                }
                Reply::Staged { .. } => Frame::error("ERR internal: a write left unproposed"),
                Reply::HangUp | Reply::Several(_) => Frame::error("ERR internal: a local reply left pending"),
            };
            self.emit(pending.command, pending.started, now, &frame, pending.logged.as_ref())?;
            if self.out.len() >= FLUSH_BYTES {
                self.write_out().await?;
            }
        }
        Ok(())
    }

    fn emit(
        &mut self,
        command: Option<usize>,
        started: Instant,
        now: Instant,
        frame: &Frame,
        logged: Option<&Logged>,
    ) -> Result<(), String> {
        let took = now.saturating_duration_since(started);
        self.node.stats.record(command, took, frame);
        if let Some(logged) = logged.filter(|_| self.node.slowlog.is_slow(took)) {
            self.log_slow(took, &logged.args());
        }
        self.session.answered_at = Some(now);
        encode(frame, self.session.version, &mut self.out);
        if self.out.len() > self.node.config.max_output_buffer {
            self.node.stats.output_overflows.fetch_add(1, Relaxed);
            return Err(format!("output buffer over {} bytes", self.node.config.max_output_buffer));
        }
        Ok(())
    }

    fn log_slow(&self, took: std::time::Duration, args: &[Bytes]) {
        let client = &self.session.client;
        let addr = client.addr.map(|a| a.to_string()).unwrap_or_default();
        let name = client.meta.lock().ok().and_then(|m| m.name.clone()).unwrap_or_default();
        self.node.slowlog.push(took, args, addr, String::from_utf8_lossy(&name).into_owned());
    }

    /// Reads more input; false once the client has gone. A subscribed
    /// connection writes out its messages while it waits.
    async fn read_more(&mut self) -> bool {
        if self.input.capacity() - self.input.len() < READ_CHUNK {
            self.input.reserve(READ_CHUNK);
        }
        if !self.session.pubsub.active() {
            return matches!(self.reader.read_buf(&mut self.input).await, Ok(n) if n > 0);
        }
        loop {
            // Unbiased, so a flood of messages cannot starve the socket.
            tokio::select! {
                message = self.session.pubsub.next_message() => match message {
                    Some(message) => {
                        if self.deliver(message).await.is_err() {
                            return false;
                        }
                    }
                    None => {
                        tracing::debug!(client = self.session.id, "subscriber's mailbox overflowed: closing");
                        return false;
                    }
                },
                read = self.reader.read_buf(&mut self.input) => {
                    // Messages published before these commands go first.
                    while let Some(message) = self.session.pubsub.try_message() {
                        encode(&message, self.session.version, &mut self.out);
                    }
                    return matches!(read, Ok(n) if n > 0);
                }
            }
        }
    }

    /// Writes out `message` and whatever else waits, up to `FLUSH_BYTES`.
    async fn deliver(&mut self, message: Frame) -> Result<(), String> {
        encode(&message, self.session.version, &mut self.out);
        while self.out.len() < FLUSH_BYTES {
            match self.session.pubsub.try_message() {
                Some(message) => encode(&message, self.session.version, &mut self.out),
                None => break,
            }
        }
        self.write_out().await
    }

    /// Awaits a blocking call's reply while watching the socket: a client
    /// that hangs up meanwhile is gone at once (as Redis frees it), and
    /// dropping its receiver keeps the writer from running its parked
    /// command. Bytes that arrive meanwhile wait in `input`, within the
    /// query-buffer bound.
    async fn await_watching(&mut self, mut rx: oneshot::Receiver<Frame>) -> Result<Frame, String> {
        loop {
            let room = self.input.len() < self.node.config.max_query_buffer;
            if room && self.input.capacity() - self.input.len() < READ_CHUNK {
                self.input.reserve(READ_CHUNK);
            }
            tokio::select! {
                reply = &mut rx => return Ok(reply.unwrap_or_else(|_| abandoned())),
                read = self.reader.read_buf(&mut self.input), if room => match read {
                    Ok(0) | Err(_) => return Err("client left while blocked".into()),
                    Ok(_) => {}
                },
            }
        }
    }

    async fn flush(&mut self) -> Result<(), String> {
        self.drain().await?;
        self.write_out().await
    }

    /// Writes the output buffer; a client that accepts no bytes for the
    /// stall timeout is disconnected. Replies mostly fit the socket's
    /// buffer: they are written at once, and only a write that would block
    /// arms the stall timer (a clock read and a timer per reply otherwise).
    async fn write_out(&mut self) -> Result<(), String> {
        while !self.out.is_empty() {
            match self.writer.try_write(&self.out) {
                Ok(0) => return Err("connection closed".into()),
                Ok(n) => self.out.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        while !self.out.is_empty() {
            let write = self.writer.write_buf(&mut self.out);
            match tokio::time::timeout(self.node.config.output_stall, write).await {
                Err(_) => {
                    self.node.stats.output_overflows.fetch_add(1, Relaxed);
                    return Err("client stopped reading its replies".into());
                }
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(0)) => return Err("connection closed".into()),
                Ok(Ok(_)) => {}
            }
        }
        Ok(())
    }
}
