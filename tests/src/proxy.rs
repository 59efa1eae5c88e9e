//! A man in the middle on loopback: an HTTP/1.1 proxy in front of central that reads each
//! exchange whole (one per connection) and lets the test rewrite central's answer, served
//! in plain HTTP or over TLS with a certificate of a test CA ([`TestCa`]).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Rewrites central's whole answer (status line, headers and body) to the request for
/// `path` (with its query).
pub type Rewrite = dyn Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync;

/// A private CA and a certificate it issued for `localhost` and `127.0.0.1`.
pub struct TestCa {
    /// The CA's certificate, PEM: what a till is given with `--central-ca`.
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    /// A new CA and server certificate.
    pub fn new() -> Result<TestCa, String> {
        let err = |e: rcgen::Error| e.to_string();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "tillpass test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(err)?)
            .map_err(err)?;
        let key = KeyPair::generate().map_err(err)?;
        let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(err)?
            .signed_by(&key, &ca)
            .map_err(err)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .map_err(|e| e.to_string())?;
        Ok(TestCa {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        })
    }
}

/// The proxy; it stops accepting when dropped (its thread ends with the test process).
pub struct Proxy {
    /// `127.0.0.1:port`.
    pub addr: String,
    tls: bool,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port` of a plain HTTP central), served in plain HTTP
    /// or, with `tls`, over TLS with `tls`'s server certificate; `rewrite` sees every
    /// answer.
    pub fn start(
        upstream: &str,
        tls: Option<&TestCa>,
        rewrite: Box<Rewrite>,
    ) -> Result<Proxy, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .to_string();
        let upstream = upstream.to_owned();
        let server = tls.map(|t| t.server.clone());
        let rewrite: Arc<Rewrite> = Arc::from(rewrite);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, server, rewrite) =
                    (upstream.clone(), server.clone(), rewrite.clone());
                std::thread::spawn(move || {
                    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
                    match server {
                        None => exchange(client, &upstream, &*rewrite),
                        Some(config) => {
                            let Ok(conn) = rustls::ServerConnection::new(config) else {
                                return;
                            };
                            let mut tls = rustls::StreamOwned::new(conn, client);
                            exchange(&mut tls, &upstream, &*rewrite);
                            tls.conn.send_close_notify();
                            let _ = tls.flush();
                        }
                    }
                });
            }
        });
        Ok(Proxy {
            addr,
            tls: tls.is_some(),
        })
    }

    /// Its base URL: `https://127.0.0.1:port` or `http://…`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Relays one exchange, with `Connection: close` both ways.
fn exchange(mut client: impl Read + Write, upstream: &str, rewrite: &Rewrite) {
    let mut request = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = find(&request, b"\r\n\r\n") {
            break at + 4;
        }
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    };
    let head = String::from_utf8_lossy(request.get(..head_end).unwrap_or_default()).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut lines: Vec<&str> = head
        .trim_end()
        .split("\r\n")
        .filter(|l| {
            !l.split(':')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("connection")
        })
        .collect();
    lines.push("Connection: close");
    let mut forwarded = lines.join("\r\n").into_bytes();
    forwarded.extend_from_slice(b"\r\n\r\n");
    forwarded.extend_from_slice(request.get(head_end..).unwrap_or_default());
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = server.set_read_timeout(Some(Duration::from_secs(30)));
    if server.write_all(&forwarded).is_err() {
        return;
    }
    let mut answer = Vec::new();
    if server.read_to_end(&mut answer).is_err() {
        return;
    }
    let _ = client.write_all(&rewrite(&path, answer));
    let _ = client.flush();
}
