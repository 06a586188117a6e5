//! A tiny DNS server for tests: UDP on 127.0.0.1, answering MX and A queries from a fixed
//! table, with messages encoded by hickory-proto. Shared by the network tests and the `mx`
//! module's unit tests (through `#[path]`).
//!
//! Names in the table exist; a type it has no records of gets an empty NOERROR answer (NODATA);
//! any other name gets NXDOMAIN; a name listed as silent gets no answer at all (a timeout).
//! The server runs on its own thread and runtime, so synchronous tests can use it too. It
//! stops when dropped, and by itself after `LIFETIME` or `MAX_QUERIES`, whichever comes first.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, MX, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

const LIFETIME: Duration = Duration::from_secs(300);
const MAX_QUERIES: usize = 10_000;
const TTL: u32 = 5;

/// The records served, by lowercase name without the trailing dot.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    mx: BTreeMap<String, Vec<(u16, String)>>,
    a: BTreeMap<String, Vec<Ipv4Addr>>,
    silent: BTreeSet<String>,
}

impl Zone {
    pub fn new() -> Zone {
        Zone::default()
    }

    /// An MX record: `exchange` as written in a zone file ("." for a null MX).
    pub fn mx(mut self, name: &str, preference: u16, exchange: &str) -> Zone {
        self.mx
            .entry(key(name))
            .or_default()
            .push((preference, exchange.to_string()));
        self
    }

    pub fn a(mut self, name: &str, ip: Ipv4Addr) -> Zone {
        self.a.entry(key(name)).or_default().push(ip);
        self
    }

    /// Queries for this name are never answered.
    pub fn silent(mut self, name: &str) -> Zone {
        self.silent.insert(key(name));
        self
    }

    fn exists(&self, name: &str) -> bool {
        self.mx.contains_key(name) || self.a.contains_key(name)
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

pub struct Responder {
    pub addr: SocketAddr,
    /// Every question asked, as ("name", "TYPE").
    pub asked: Arc<Mutex<Vec<(String, String)>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Responder {
    pub fn start(zone: Zone) -> Responder {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the DNS responder");
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let log = asked.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let socket = tokio::net::UdpSocket::from_std(socket).unwrap();
                let deadline = tokio::time::sleep(LIFETIME);
                tokio::pin!(deadline);
                let mut buf = vec![0u8; 4096];
                for _ in 0..MAX_QUERIES {
                    let (len, peer) = tokio::select! {
                        _ = &mut stopped => return,
                        _ = &mut deadline => return,
                        r = socket.recv_from(&mut buf) => match r {
                            Ok(r) => r,
                            Err(_) => continue,
                        },
                    };
                    if let Some(reply) = answer(&zone, &buf[..len], &log) {
                        let _ = socket.send_to(&reply, peer).await;
                    }
                }
            });
        });
        Responder {
            addr,
            asked,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// How many questions were asked for `name` (any type).
    pub fn asked_for(&self, name: &str) -> usize {
        let name = key(name);
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| *n == name)
            .count()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The reply to one datagram, or None to stay silent.
fn answer(zone: &Zone, datagram: &[u8], log: &Mutex<Vec<(String, String)>>) -> Option<Vec<u8>> {
    let request = Message::from_vec(datagram).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    let Some(query) = request.queries.first().cloned() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply.to_vec().ok();
    };
    let name = key(&query.name().to_ascii());
    log.lock()
        .unwrap()
        .push((name.clone(), query.query_type().to_string()));
    if zone.silent.contains(&name) {
        return None;
    }
    reply.add_query(query.clone());
    if request.metadata.op_code != OpCode::Query {
        reply.metadata.response_code = ResponseCode::NotImp;
        return reply.to_vec().ok();
    }
    let owner = query.name().clone();
    let answers: Vec<Record> = match query.query_type() {
        RecordType::MX => zone
            .mx
            .get(&name)
            .into_iter()
            .flatten()
            .map(|(preference, exchange)| {
                let exchange = Name::from_ascii(exchange).expect("an exchange name");
                Record::from_rdata(
                    owner.clone(),
                    TTL,
                    RData::MX(MX::new(*preference, exchange)),
                )
            })
            .collect(),
        RecordType::A => zone
            .a
            .get(&name)
            .into_iter()
            .flatten()
            .map(|ip| Record::from_rdata(owner.clone(), TTL, RData::A(A(*ip))))
            .collect(),
        _ => Vec::new(),
    };
    if answers.is_empty() {
        if !zone.exists(&name) {
            reply.metadata.response_code = ResponseCode::NXDomain;
        }
        // The zone's SOA, so the negative answer is well formed.
        let soa = SOA::new(
            Name::from_ascii("ns.test.").unwrap(),
            Name::from_ascii("hostmaster.test.").unwrap(),
            1,
            60,
            60,
            600,
            TTL,
        );
        reply.add_authority(Record::from_rdata(Name::root(), TTL, RData::SOA(soa)));
    }
    reply.add_answers(answers);
    reply.to_vec().ok()
}
