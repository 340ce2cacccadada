//! A small HTTP/1.1 server on 127.0.0.1 for register tests: it answers with what the
//! test's handler says, records every request with its arrival time, and stops when
//! dropped (or after `LIFETIME`, whichever comes first).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server that outlives its test is a bug; this bounds the damage.
const LIFETIME: Duration = Duration::from_secs(120);
const MAX_REQUEST: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query as sent (percent-encoded).
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
}

impl Seen {
    pub fn path(&self) -> String {
        decode(self.target.split('?').next().unwrap_or_default())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of form field `name` in a form-encoded body (decoded).
    pub fn form(&self, name: &str) -> Option<String> {
        self.body
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| decode(k) == name)
            .map(|(_, v)| decode(v))
    }

    /// The value of query parameter `name` (decoded), if present.
    pub fn param(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| decode(k) == name)
            .map(|(_, v)| decode(v))
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (timeouts).
    pub delay: Duration,
    /// Announce the full length but send only half the body, then close.
    pub truncate: bool,
}

impl Reply {
    pub fn json(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/vnd.api+json".into())],
            body: body.into(),
            delay: Duration::ZERO,
            truncate: false,
        }
    }

    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            truncate: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn truncated(mut self) -> Reply {
        self.truncate = true;
        self
    }
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

pub struct Double {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Double {
    /// Starts a server; `handler(request, n)` answers the n-th request (0-based).
    pub fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Double {
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let seen_server = seen.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let serve = async {
                    loop {
                        let Ok((socket, _)) = listener.accept().await else {
                            continue;
                        };
                        let (handler, seen) = (handler.clone(), seen_server.clone());
                        tokio::spawn(serve_one(socket, handler, seen));
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stop_rx => {}
                    _ = tokio::time::sleep(LIFETIME) => {}
                }
            });
        });
        let addr = addr_rx.recv().expect("server address");
        Double {
            url: format!("http://{addr}"),
            seen,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve_one(
    mut socket: tokio::net::TcpStream,
    handler: Arc<Handler>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > MAX_REQUEST {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
        .min(MAX_REQUEST);
    while buf.len() < header_end + length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut request_line = head.lines().next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let target = request_line.next().unwrap_or_default().to_string();
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = String::from_utf8_lossy(&buf[header_end..]).into_owned();
    let request = Seen {
        method,
        target,
        headers,
        body,
        at: Instant::now(),
    };
    let n = {
        let mut all = seen.lock().unwrap();
        all.push(request.clone());
        all.len() - 1
    };
    let reply = handler(&request, n);
    tokio::time::sleep(reply.delay).await;
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    let body = if reply.truncate {
        &reply.body[..reply.body.len() / 2]
    } else {
        &reply.body[..]
    };
    bytes.extend_from_slice(body);
    let _ = socket.write_all(&bytes).await;
    let _ = socket.shutdown().await;
}

/// Percent-decoding of a request target; `+` is a blank in forms.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
