//! Every refusal is counted with its reason: too large, bad frame, rate
//! limited, unknown member, backpressure; and a TLS client without a
//! certificate is identified by its registered network.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use ward_event::Event;
use ward_syslog::{
    start, Backpressure, ConnRefusal, DropReason, ListenerConfig, Metrics, RateLimit,
    StaticResolver, SyslogSink, TlsListenerConfig, Transport,
};

#[derive(Default)]
struct Collect(Mutex<Vec<(String, Event)>>);

#[async_trait::async_trait]
impl SyslogSink for Collect {
    async fn submit(&self, org: &str, records: Vec<Event>) -> Result<(), Backpressure> {
        self.0
            .lock()
            .unwrap()
            .extend(records.into_iter().map(|e| (org.to_string(), e)));
        Ok(())
    }
}

struct Full(AtomicUsize);

#[async_trait::async_trait]
impl SyslogSink for Full {
    async fn submit(&self, _org: &str, records: Vec<Event>) -> Result<(), Backpressure> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Err(Backpressure { records })
    }
}

fn local() -> StaticResolver {
    StaticResolver::new().with_network("127.0.0.0/8".parse().unwrap(), "Y1")
}

async fn until(m: &Metrics, f: impl Fn(&Metrics) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f(m) {
        assert!(
            Instant::now() < deadline,
            "condition not reached:\n{}",
            m.render_prometheus()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn octet(msg: &str) -> Vec<u8> {
    format!("{} {msg}", msg.len()).into_bytes()
}

#[tokio::test]
async fn too_large_and_bad_frames_are_counted() {
    let sink = Arc::new(Collect::default());
    let cfg = ListenerConfig {
        udp: Some("127.0.0.1:0".parse().unwrap()),
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        max_message_bytes: 100,
        ..ListenerConfig::default()
    };
    let r = start(cfg, sink.clone(), Arc::new(local())).await.unwrap();
    let big = format!("<13>1 - h a - - - {}", "x".repeat(200));
    let mut s = TcpStream::connect(r.tcp_addr.unwrap()).await.unwrap();
    let mut bytes = octet(&big);
    bytes.extend(octet("<13>1 - h a - - - small one"));
    bytes.extend(b"12x not a count\n");
    bytes.extend(octet("<13>1 - h a - - - after resync"));
    s.write_all(&bytes).await.unwrap();
    s.shutdown().await.unwrap();
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(big.as_bytes(), r.udp_addr.unwrap()).unwrap();
    let m = r.metrics.clone();
    until(&m, |m| {
        m.accepted_total() == 2 && m.dropped_total(DropReason::TooLarge) == 2
    })
    .await;
    assert_eq!(m.dropped_total(DropReason::BadFrame), 1);
    let resynced = sink
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|(_, e)| e.original.raw.ends_with("after resync"));
    assert!(resynced);
    r.shutdown().await;
}

#[tokio::test]
async fn rate_limit_is_per_member_and_counted() {
    let sink = Arc::new(Collect::default());
    let cfg = ListenerConfig {
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        rate_limit: RateLimit {
            messages_per_sec: 0.001,
            burst: 5.0,
        },
        ..ListenerConfig::default()
    };
    let r = start(cfg, sink.clone(), Arc::new(local())).await.unwrap();
    let mut s = TcpStream::connect(r.tcp_addr.unwrap()).await.unwrap();
    let mut bytes = Vec::new();
    for i in 0..20 {
        bytes.extend(octet(&format!("<13>1 - h a - - - m{i}")));
    }
    s.write_all(&bytes).await.unwrap();
    s.shutdown().await.unwrap();
    let m = r.metrics.clone();
    until(&m, |m| {
        m.accepted_total() + m.dropped_total(DropReason::RateLimited) == 20
    })
    .await;
    assert_eq!(m.accepted_total(), 5);
    assert_eq!(m.dropped_total(DropReason::RateLimited), 15);
    assert!(m
        .render_prometheus()
        .contains("ward_syslog_messages_dropped_total{reason=\"rate_limited\"} 15"));
    r.shutdown().await;
}

#[tokio::test]
async fn unknown_sources_are_refused_and_counted() {
    let sink = Arc::new(Collect::default());
    let resolver = StaticResolver::new().with_network("10.0.0.0/8".parse().unwrap(), "Y2");
    let cfg = ListenerConfig {
        udp: Some("127.0.0.1:0".parse().unwrap()),
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        ..ListenerConfig::default()
    };
    let r = start(cfg, sink.clone(), Arc::new(resolver)).await.unwrap();
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(b"<13>1 - h a - - - who am i", r.udp_addr.unwrap())
        .unwrap();
    let mut s = TcpStream::connect(r.tcp_addr.unwrap()).await.unwrap();
    let _ = s.write_all(&octet("<13>1 - h a - - - x")).await;
    let m = r.metrics.clone();
    until(&m, |m| {
        m.dropped_total(DropReason::UnknownMember) == 1
            && m.refused_total(ConnRefusal::UnknownNetwork) == 1
    })
    .await;
    assert_eq!(m.received_total(Transport::Udp), 1);
    assert!(sink.0.lock().unwrap().is_empty());
    r.shutdown().await;
}

#[tokio::test]
async fn backpressure_is_retried_then_counted() {
    let sink = Arc::new(Full(AtomicUsize::new(0)));
    let cfg = ListenerConfig {
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        backpressure_wait_ms: 150,
        ..ListenerConfig::default()
    };
    let r = start(cfg, sink.clone(), Arc::new(local())).await.unwrap();
    let mut s = TcpStream::connect(r.tcp_addr.unwrap()).await.unwrap();
    let mut bytes = Vec::new();
    for i in 0..7 {
        bytes.extend(octet(&format!("<13>1 - h a - - - m{i}")));
    }
    s.write_all(&bytes).await.unwrap();
    s.shutdown().await.unwrap();
    let m = r.metrics.clone();
    until(&m, |m| m.dropped_total(DropReason::Backpressure) == 7).await;
    assert!(sink.0.load(Ordering::Relaxed) > 1, "the sink was retried");
    assert_eq!(m.accepted_total(), 0);
    r.shutdown().await;
}

#[tokio::test]
async fn tls_without_certificate_is_identified_by_network() {
    let ca = {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let k = rcgen::KeyPair::generate().unwrap();
        let c = p.self_signed(&k).unwrap();
        rcgen::CertifiedKey {
            cert: c,
            key_pair: k,
        }
    };
    let skey = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["ward.test".to_string()])
        .unwrap()
        .signed_by(&skey, &ca.cert, &ca.key_pair)
        .unwrap();
    let sink = Arc::new(Collect::default());
    let cfg = ListenerConfig {
        tls: Some(TlsListenerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            cert_chain_pem: server.pem(),
            key_pem: skey.serialize_pem(),
            client_ca_pem: Some(ca.cert.pem()),
            require_client_cert: false,
            handshake_timeout_secs: 5,
        }),
        ..ListenerConfig::default()
    };
    let r = start(cfg, sink.clone(), Arc::new(local())).await.unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(r.tls_addr.unwrap()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("ward.test").unwrap();
    let mut tls = conn.connect(name, tcp).await.unwrap();
    tls.write_all(&octet("<13>1 2024-05-01T10:00:00Z fw a - - - no cert here"))
        .await
        .unwrap();
    tls.shutdown().await.unwrap();
    let m = r.metrics.clone();
    until(&m, |m| m.accepted_total() == 1).await;
    assert_eq!(sink.0.lock().unwrap()[0].0, "Y1");
    r.shutdown().await;
}

#[tokio::test]
async fn json_lines_over_tcp_are_detected() {
    let sink = Arc::new(Collect::default());
    let cfg = ListenerConfig {
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        ..ListenerConfig::default()
    };
    let r = start(cfg, sink.clone(), Arc::new(local())).await.unwrap();
    let mut s = TcpStream::connect(r.tcp_addr.unwrap()).await.unwrap();
    let nxlog = r#"{"EventTime":"2024-05-01 10:22:31","Hostname":"DC01","EventID":4625,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","TargetUserName":"bob","IpAddress":"10.1.2.3"}"#;
    let eve = r#"{"timestamp":"2024-05-01T10:00:00.000000+0000","event_type":"alert","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","alert":{"signature":"x","signature_id":1,"severity":1}}"#;
    s.write_all(format!("{nxlog}\n{eve}\n").as_bytes())
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    let m = r.metrics.clone();
    until(&m, |m| m.accepted_total() == 2).await;
    let formats: Vec<String> = sink
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, e)| e.original.format.clone())
        .collect();
    assert_eq!(formats, vec!["windows.flat_json", "suricata.eve"]);
    assert_eq!(m.unparsed_total(), 0);
    r.shutdown().await;
}

#[tokio::test]
async fn connection_limit_and_idle_timeout_are_counted() {
    let sink = Arc::new(Collect::default());
    let cfg = ListenerConfig {
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        max_connections: 1,
        idle_timeout_secs: 1,
        ..ListenerConfig::default()
    };
    let r = start(cfg, sink.clone(), Arc::new(local())).await.unwrap();
    let addr = r.tcp_addr.unwrap();
    let _idle = TcpStream::connect(addr).await.unwrap();
    let m = r.metrics.clone();
    until(&m, |m| m.connections_total(Transport::Tcp) == 1).await;
    let _second = TcpStream::connect(addr).await.unwrap();
    until(&m, |m| {
        m.refused_total(ConnRefusal::TooManyConnections) == 1
    })
    .await;
    // The idle connection is closed after a second, freeing its slot.
    until(&m, |m| m.refused_total(ConnRefusal::IdleTimeout) == 1).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(&octet("<13>1 - h a - - - after the idle one left"))
        .await
        .unwrap();
    third.shutdown().await.unwrap();
    until(&m, |m| m.accepted_total() == 1).await;
    r.shutdown().await;
}
