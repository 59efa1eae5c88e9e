//! A small HTTP/1.1 client over a plain `TcpStream`, for talking to the agent and central
//! on loopback exactly as a POS would: one request per connection, the answer read whole.
//!
//! It knows just enough HTTP for these tests: a status line, headers, a body delimited by
//! `Content-Length`, `Transfer-Encoding: chunked` or the end of the connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long a request may wait for its answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header lines, as received (names as sent, values trimmed).
    pub headers: Vec<(String, String)>,
    /// The body, decoded from chunks when chunked; lossily made UTF-8.
    pub body: String,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request to build and send.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET`, `POST`, `PUT`…
    pub method: &'a str,
    /// The path and query.
    pub path: &'a str,
    /// A bearer token, if any.
    pub bearer: Option<&'a str>,
    /// An `Idempotency-Key`, if any.
    pub idempotency_key: Option<&'a str>,
    /// The body's media type (sent only with a body).
    pub content_type: &'a str,
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// A request without a body.
    pub fn new(method: &'a str, path: &'a str) -> Request<'a> {
        Request {
            method,
            path,
            bearer: None,
            idempotency_key: None,
            content_type: "application/json",
            body: &[],
        }
    }

    /// With a bearer token.
    pub fn bearer(mut self, token: &'a str) -> Request<'a> {
        self.bearer = Some(token);
        self
    }

    /// With an `Idempotency-Key`.
    pub fn key(mut self, key: &'a str) -> Request<'a> {
        self.idempotency_key = Some(key);
        self
    }

    /// With a JSON body.
    pub fn json(mut self, body: &'a str) -> Request<'a> {
        self.content_type = "application/json";
        self.body = body.as_bytes();
        self
    }

    /// With a body of another type.
    pub fn body(mut self, content_type: &'a str, body: &'a [u8]) -> Request<'a> {
        self.content_type = content_type;
        self.body = body;
        self
    }

    /// Sends the request to `addr` (`host:port`) and reads the whole answer.
    pub fn send(&self, addr: &str) -> std::io::Result<Response> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n",
            self.method, self.path
        );
        if let Some(token) = self.bearer {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(key) = self.idempotency_key {
            head.push_str(&format!("Idempotency-Key: {key}\r\n"));
        }
        if !self.body.is_empty() || matches!(self.method, "POST" | "PUT" | "PATCH") {
            head.push_str(&format!(
                "Content-Type: {}\r\nContent-Length: {}\r\n",
                self.content_type,
                self.body.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        // A server may answer (413) before reading a large body: a broken pipe here still
        // leaves its answer to read.
        let _ = stream.write_all(self.body);
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        parse(&raw).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not an HTTP answer: {:?}",
                    String::from_utf8_lossy(&raw[..raw.len().min(200)])
                ),
            )
        })
    }
}

/// Parses a whole HTTP/1.1 answer.
fn parse(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = length {
        rest.get(..length)?.to_vec()
    } else {
        rest.to_vec()
    };
    Some(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_content_length_and_chunked_bodies() {
        let plain = parse(b"HTTP/1.1 422 Unprocessable\r\ncontent-length: 2\r\n\r\n{}xx").unwrap();
        assert_eq!(plain.status, 422);
        assert_eq!(plain.body, "{}");
        let chunked = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked.body, "abcde");
        assert_eq!(chunked.header("TRANSFER-ENCODING"), Some("chunked"));
        assert!(parse(b"garbage").is_none());
    }
}
