//! A minimal RESP2 client for weir's own tools (`weir bench`, `weir sink`):
//! commands are encoded once into a buffer, a whole pipeline goes out in one
//! write, and replies are parsed in place. Replies are bounded (a tool
//! should never be made to allocate without limit by a server).
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("connection error: {0}")]
    Io(String),
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// Replies larger than this are refused.
const MAX_REPLY_BYTES: usize = 64 << 20;

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(Some(b)) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Status(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// Where to connect: `redis://[[user]:password@]host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub addr: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, ClientError> {
        let bad = || ClientError::Usage(format!("bad --url {url:?}: expected redis://[:password@]host:port"));
        let rest = url.strip_prefix("redis://").ok_or_else(bad)?;
        let (auth, host) = match rest.rsplit_once('@') {
            Some((auth, host)) => (Some(auth), host),
            None => (None, rest),
        };
        let host = host.split('/').next().unwrap_or(host);
        let addr = if host.contains(':') { host.to_string() } else { format!("{host}:6379") };
        if addr.starts_with(':') {
            return Err(bad());
        }
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| u.to_string()), Some(p.to_string())),
                None => (None, Some(a.to_string())),
            },
        };
        Ok(Target { url: url.to_string(), addr, user, password })
    }
}

pub fn encode(out: &mut Vec<u8>, args: &[Vec<u8>]) {
    weir_protocol::encode_request(args, out);
}

pub struct Client {
    stream: TcpStream,
    input: BytesMut,
}

impl Client {
    /// Connects and authenticates.
    pub async fn connect(target: &Target) -> Result<Client, ClientError> {
        let connect = TcpStream::connect(&target.addr);
        let stream = tokio::time::timeout(std::time::Duration::from_secs(5), connect)
            .await
            .map_err(|_| ClientError::Connect(format!("{}: timed out", target.addr)))?
            .map_err(|e| ClientError::Connect(format!("{}: {e}", target.addr)))?;
        let _ = stream.set_nodelay(true);
        let mut client = Client { stream, input: BytesMut::with_capacity(64 * 1024) };
        if let Some(password) = &target.password {
            let mut args = vec![b"AUTH".to_vec()];
            if let Some(user) = &target.user {
                args.push(user.as_bytes().to_vec());
            }
            args.push(password.as_bytes().to_vec());
            if let Reply::Error(e) = client.call(&args).await? {
                return Err(ClientError::Auth(e));
            }
        }
        Ok(client)
    }

    /// One command, one reply.
    pub async fn call(&mut self, args: &[Vec<u8>]) -> Result<Reply, ClientError> {
        let mut out = Vec::new();
        encode(&mut out, args);
        self.send(&out).await?;
        self.read_reply().await
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes).await.map_err(|e| ClientError::Io(e.to_string()))
    }

    pub async fn read_reply(&mut self) -> Result<Reply, ClientError> {
        loop {
            if let Some((reply, len)) = parse(&self.input)? {
                self.input.advance(len);
                return Ok(reply);
            }
            if self.input.len() > MAX_REPLY_BYTES {
                return Err(ClientError::Protocol("reply too large".into()));
            }
            self.input.reserve(16 * 1024);
            let n = self.stream.read_buf(&mut self.input).await.map_err(|e| ClientError::Io(e.to_string()))?;
            if n == 0 {
                return Err(ClientError::Io("connection closed by the server".into()));
            }
        }
    }
}

/// Parses one reply at the start of `data`: `None` if incomplete.
pub fn parse(data: &[u8]) -> Result<Option<(Reply, usize)>, ClientError> {
    let Some(end) = data.iter().position(|&c| c == b'\n') else { return Ok(None) };
    if end == 0 || data[end - 1] != b'\r' {
        return Err(ClientError::Protocol("reply line without CRLF".into()));
    }
    let line = &data[1..end - 1];
    let after = end + 1;
    let bad = || ClientError::Protocol(format!("bad reply line {:?}", String::from_utf8_lossy(line)));
    let text = || String::from_utf8_lossy(line).into_owned();
    match data.first() {
        Some(b'+') => Ok(Some((Reply::Status(text()), after))),
        Some(b'-') => Ok(Some((Reply::Error(text()), after))),
        Some(b':') => Ok(Some((Reply::Int(weir_protocol::parse_int(line).ok_or_else(bad)?), after))),
        Some(b'$') => {
            let n = weir_protocol::parse_int(line).ok_or_else(bad)?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), after)));
            }
            let n = usize::try_from(n).map_err(|_| bad())?;
            if n > MAX_REPLY_BYTES {
                return Err(bad());
            }
            if data.len() < after + n + 2 {
                return Ok(None);
            }
            Ok(Some((Reply::Bulk(Some(data[after..after + n].to_vec())), after + n + 2)))
        }
        Some(b'*') => {
            let n = weir_protocol::parse_int(line).ok_or_else(bad)?;
            if n < 0 {
                return Ok(Some((Reply::Array(None), after)));
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            let mut at = after;
            for _ in 0..n {
                match parse(&data[at..])? {
                    None => return Ok(None),
                    Some((item, len)) => {
                        items.push(item);
                        at += len;
                    }
                }
            }
            Ok(Some((Reply::Array(Some(items)), at)))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("redis://:secret@127.0.0.1:7000").expect("parses");
        assert_eq!((t.addr.as_str(), t.password.as_deref(), t.user), ("127.0.0.1:7000", Some("secret"), None));
        assert_eq!(Target::parse("redis://localhost").expect("parses").addr, "localhost:6379");
        assert!(Target::parse("http://x:1").is_err());
    }

    #[test]
    fn replies() {
        let data = b"*3\r\n:1\r\n$3\r\nabc\r\n$-1\r\n+OK\r\n";
        let (reply, len) = parse(data).expect("valid").expect("complete");
        assert_eq!(
            reply,
            Reply::Array(Some(vec![Reply::Int(1), Reply::Bulk(Some(b"abc".to_vec())), Reply::Bulk(None)]))
        );
        assert_eq!(&data[len..], b"+OK\r\n");
        assert!(parse(b"$5\r\nab").expect("valid").is_none());
    }
}
