//! The service check's probes: the only I/O of the check ([`super::health`] decides). Each running
//! member is probed on its primary private address, at once, each probe bounded by the check's
//! timeout: a TCP connection, or an HTTP(S) GET whose status line must be in the expected range.
//! The function reaches the addresses from inside the pair's VPC (the template attaches it to
//! the pair's subnets when the check is on).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::{HealthCheck, Protocol};
use super::world::{Instance, InstanceState, Probed};

/// Probes every running member that has a private address, all at once.
pub async fn probe_all(check: &HealthCheck, members: &[Instance]) -> Vec<Probed> {
    let targets: Vec<(&str, &str)> = members
        .iter()
        .filter(|m| m.state == InstanceState::Running)
        .filter_map(|m| Some((m.instance_id.as_str(), m.private_ip.as_deref()?)))
        .collect();
    let results = join_all(targets.iter().map(|(_, ip)| probe_timed(check, ip))).await;
    targets
        .iter()
        .zip(results)
        .map(|((id, _), (result, timed_out))| Probed { instance_id: (*id).to_owned(), result, timed_out })
        .collect()
}

/// One probe of `ip`: `Ok` when the service answered as the check expects in time.
pub async fn probe(check: &HealthCheck, ip: &str) -> Result<(), String> {
    probe_timed(check, ip).await.0
}

/// One probe of `ip`, and whether it failed for want of a TCP connection within the timeout
/// (packets that go nowhere), as opposed to a refusal or a wrong answer.
async fn probe_timed(check: &HealthCheck, ip: &str) -> (Result<(), String>, bool) {
    let Ok(ip) = ip.parse::<IpAddr>() else { return (Err(format!("{ip} is not an IP address")), false) };
    let address = SocketAddr::new(ip, check.port);
    let timeout = Duration::from_millis(check.timeout_ms);
    let connected = AtomicBool::new(false);
    match tokio::time::timeout(timeout, attempt(check, address, &connected)).await {
        Ok(Err(e)) if e.kind == std::io::ErrorKind::TimedOut => (Err(e.why), true),
        Ok(result) => (result.map_err(|e| e.why), false),
        Err(_) if connected.load(Ordering::Relaxed) => {
            (Err(format!("{address} took the connection but did not answer within {} ms", check.timeout_ms)), false)
        }
        Err(_) => (Err(format!("no TCP connection to {address} within {} ms", check.timeout_ms)), true),
    }
}

/// Why a probe failed, and the kind of the I/O error behind it (`Other` for a wrong answer).
struct Failure {
    why: String,
    kind: std::io::ErrorKind,
}

impl From<String> for Failure {
    fn from(why: String) -> Self {
        Self { why, kind: std::io::ErrorKind::Other }
    }
}

async fn attempt(check: &HealthCheck, address: SocketAddr, connected: &AtomicBool) -> Result<(), Failure> {
    let stream =
        TcpStream::connect(address).await.map_err(|e| Failure { why: format!("{address}: {e}"), kind: e.kind() })?;
    connected.store(true, Ordering::Relaxed);
    match check.protocol {
        Protocol::Tcp => Ok(()),
        Protocol::Http => get(check, address, stream).await.map_err(Failure::from),
        Protocol::Https => {
            // The virtual host's name when the check names one (SNI), else the address.
            let name = match check.host.as_deref().map(|h| rustls::pki_types::ServerName::try_from(h.to_owned())) {
                Some(Ok(name)) => name,
                _ => rustls::pki_types::ServerName::from(address.ip()),
            };
            let tls = tls_connector().connect(name, stream).await.map_err(|e| {
                // rustls speaks TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1).
                let old = if e.to_string().contains("ProtocolVersion") || e.to_string().contains("PeerIncompatible") {
                    " (the probe speaks TLS 1.2 and 1.3 only: a service that offers only TLS 1.0 or 1.1 fails every \
                     probe)"
                } else {
                    ""
                };
                Failure::from(format!("{address}: TLS: {e}{old}"))
            })?;
            get(check, address, tls).await.map_err(Failure::from)
        }
    }
}

/// GETs the check's path and reads the status line.
async fn get(
    check: &HealthCheck,
    address: SocketAddr,
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
) -> Result<(), String> {
    // Host: the virtual host the check names (with the port unless it is the scheme's own), else
    // the address.
    let host = match &check.host {
        Some(name) if matches!((check.protocol, check.port), (Protocol::Http, 80) | (Protocol::Https, 443)) => {
            name.clone()
        }
        Some(name) => format!("{name}:{}", check.port),
        None => address.to_string(),
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ec2-failover-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        check.path
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("{address}: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut buffer = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        let read = stream.read(&mut buffer).await.map_err(|e| format!("{address}: {e}"))?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    let status = line
        .strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("{address}: not an HTTP answer: {:?}", line.chars().take(60).collect::<String>()))?;
    let (low, high) = check.expect;
    if (low..=high).contains(&status) {
        Ok(())
    } else {
        Err(format!("{address}{}: HTTP {status}, expected {low}-{high}", check.path))
    }
}

/// A TLS client that checks the handshake but not the certificate: the probe dials a private
/// address, which no certificate names. The handshake's signatures are still verified.
fn tls_connector() -> tokio_rustls::TlsConnector {
    static CONNECTOR: OnceLock<tokio_rustls::TlsConnector> = OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let verifier = Arc::new(AnyCertificate(provider.clone()));
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap_or_else(|_| rustls::ClientConfig::builder())
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            tokio_rustls::TlsConnector::from(Arc::new(config))
        })
        .clone()
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
