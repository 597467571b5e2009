//! The WireGuard awareness of one client's endpoint on the server (issue 5).
//!
//! The endpoint of a WireGuard-aware server serves one client. Watching
//! the clear-text headers (GUIDE §2) it learns the server-side session
//! indices its WireGuard hands out, and from those decides:
//! - towards WireGuard: datagrams that are not WireGuard, and data
//!   messages, handshake responses and cookie replies for a session that is
//!   not this client's, are dropped; a data message for one of its sessions
//!   establishes the path that brought it; until WireGuard has answered the
//!   client once, at most [`INITIATIONS_BEFORE_ANSWER`] handshake
//!   initiations pass (a forged initiation is well-formed WireGuard: it
//!   reaches WireGuard, which drops it, but a flood of them from one
//!   admitted address must not);
//! - towards the client: a path that is not established yet (its address
//!   only sent a handshake so far) gets handshake answers only, never the
//!   data stream, so a forged source address cannot draw traffic; and a
//!   data message from WireGuard goes out only if it names a client-side
//!   index this client's handshakes established (should WireGuard still
//!   send to the socket of a client that is gone, and the kernel have
//!   given its port to this client's socket, the other client's data does
//!   not reach this client's addresses).
//!
//! The listener learns each new index (and each forgotten one) through an
//! [`EndpointReport`], so it can place a new address of the client.

use crate::registry::ClientId;
use crate::wireguard::{Message, parse};
use actix::prelude::*;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Server-side indices remembered per client: WireGuard keeps at most three
/// sessions per peer (previous, current, next); a few more cover handshakes
/// that never completed.
const SESSIONS_PER_CLIENT: usize = 8;

/// Handshake initiations a client's endpoint hands WireGuard before
/// WireGuard has answered it once. A genuine client needs one copy of one
/// initiation; WireGuard retries every 5 s with a new one, and the listener
/// gives up on the client after 10 s without an answer, so 16 leaves room
/// for every copy of two attempts over eight links.
pub const INITIATIONS_BEFORE_ANSWER: u32 = 16;

/// What a client's endpoint tells the listener.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub enum EndpointReport {
    /// WireGuard chose `index` for a session with this client.
    SessionLearned {
        /// The client.
        client: ClientId,
        /// The server-side index.
        index: u32,
    },
    /// `index` is no longer remembered.
    SessionForgotten {
        /// The client.
        client: ClientId,
        /// The server-side index.
        index: u32,
    },
    /// `peer`, an address of this client, sent data for a session that is
    /// not this client's (an address that moved to another client, e.g.
    /// behind NAT, or a forgery).
    UnknownSession {
        /// The client the address belongs to now.
        client: ClientId,
        /// The address.
        peer: SocketAddr,
        /// The index it used.
        index: u32,
    },
}

/// What to do with a datagram from the client, for WireGuard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// Hand it to WireGuard.
    Forward,
    /// Hand it to WireGuard: data for one of this client's sessions, so the
    /// path that brought it is established.
    ForwardEstablishing,
    /// Not WireGuard: drop.
    NotWireGuard,
    /// Data, a response or a cookie for a session that is not this client's: drop.
    UnknownSession(u32),
    /// An initiation beyond [`INITIATIONS_BEFORE_ANSWER`] while WireGuard
    /// has never answered this client: drop.
    TooManyInitiations,
}

/// One client's WireGuard awareness.
pub struct Inspection {
    client: ClientId,
    listener: Recipient<EndpointReport>,
    /// Server-side session indices, newest last.
    sessions: VecDeque<u32>,
    /// Initiations handed to WireGuard while `sessions` was still empty.
    unanswered_initiations: u32,
    /// Client-side session indices, newest last: the receiver index of
    /// WireGuard's data for this client. Learnt from WireGuard's responses
    /// to the client's initiations and from the client's responses to
    /// WireGuard's (which must name one of `sessions`), never from what a
    /// forger alone could send.
    peer_indices: VecDeque<u32>,
}

impl Inspection {
    /// Awareness for `client`, reporting to `listener`.
    pub fn new(client: ClientId, listener: Recipient<EndpointReport>) -> Self {
        Self {
            client,
            listener,
            sessions: VecDeque::with_capacity(SESSIONS_PER_CLIENT + 1),
            unanswered_initiations: 0,
            peer_indices: VecDeque::with_capacity(SESSIONS_PER_CLIENT + 1),
        }
    }

    /// The client this endpoint serves.
    pub fn client(&self) -> ClientId {
        self.client
    }

    /// Notes the session indices in a datagram WireGuard sends to the
    /// client; false when it must not go to the client: a data message for
    /// a session that is not this client's.
    pub fn learn_from_wireguard(&mut self, data: &[u8]) -> bool {
        let index = match parse(data) {
            Some(Message::HandshakeInitiation { sender_index }) => sender_index,
            Some(Message::HandshakeResponse {
                sender_index,
                receiver_index,
            }) => {
                remember(&mut self.peer_indices, receiver_index);
                sender_index
            }
            Some(Message::TransportData { receiver_index, .. }) => {
                return self.peer_indices.contains(&receiver_index);
            }
            Some(Message::CookieReply { .. }) | None => return true,
        };
        if self.sessions.contains(&index) {
            return true;
        }
        self.sessions.push_back(index);
        self.listener.do_send(EndpointReport::SessionLearned {
            client: self.client,
            index,
        });
        if self.sessions.len() > SESSIONS_PER_CLIENT {
            if let Some(old) = self.sessions.pop_front() {
                self.listener.do_send(EndpointReport::SessionForgotten {
                    client: self.client,
                    index: old,
                });
            }
        }
        true
    }

    /// Judges a datagram from the client, already parsed (`None`: not WireGuard).
    pub fn inbound(&mut self, message: Option<Message>) -> Inbound {
        match message {
            None => Inbound::NotWireGuard,
            Some(Message::TransportData { receiver_index, .. }) => {
                if self.sessions.contains(&receiver_index) {
                    Inbound::ForwardEstablishing
                } else {
                    Inbound::UnknownSession(receiver_index)
                }
            }
            // The client answers a handshake the server's WireGuard started
            // through this endpoint, so it names an index learnt here.
            Some(Message::HandshakeResponse {
                sender_index,
                receiver_index,
            }) => {
                if self.sessions.contains(&receiver_index) {
                    remember(&mut self.peer_indices, sender_index);
                    Inbound::Forward
                } else {
                    Inbound::UnknownSession(receiver_index)
                }
            }
            Some(Message::CookieReply { receiver_index }) => {
                if self.sessions.contains(&receiver_index) {
                    Inbound::Forward
                } else {
                    Inbound::UnknownSession(receiver_index)
                }
            }
            Some(Message::HandshakeInitiation { .. }) => {
                if !self.sessions.is_empty() {
                    Inbound::Forward
                } else if self.unanswered_initiations < INITIATIONS_BEFORE_ANSWER {
                    self.unanswered_initiations += 1;
                    Inbound::Forward
                } else {
                    Inbound::TooManyInitiations
                }
            }
        }
    }

    /// Reports that `peer` used an index this client does not own.
    pub fn report_unknown_session(&self, peer: SocketAddr, index: u32) {
        self.listener.do_send(EndpointReport::UnknownSession {
            client: self.client,
            peer,
            index,
        });
    }
}

/// Adds `index` to `indices` (newest last), forgetting the oldest beyond
/// [`SESSIONS_PER_CLIENT`].
fn remember(indices: &mut VecDeque<u32>, index: u32) {
    if !indices.contains(&index) {
        indices.push_back(index);
        if indices.len() > SESSIONS_PER_CLIENT {
            indices.pop_front();
        }
    }
}

/// Whether a path that is not established yet may receive `data`: only
/// the answers to a handshake it started (a response or a cookie).
pub fn allowed_before_established(data: &[u8]) -> bool {
    matches!(
        parse(data),
        Some(Message::HandshakeResponse { .. } | Message::CookieReply { .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Collector(Arc<Mutex<Vec<EndpointReport>>>);

    impl Actor for Collector {
        type Context = Context<Self>;
    }

    impl Handler<EndpointReport> for Collector {
        type Result = ();
        fn handle(&mut self, report: EndpointReport, _: &mut Self::Context) {
            self.0.lock().unwrap().push(report);
        }
    }

    fn message(kind: u8, len: usize, index_at_4: u32, index_at_8: u32) -> Vec<u8> {
        let mut data = vec![0u8; len];
        data[0] = kind;
        data[4..8].copy_from_slice(&index_at_4.to_le_bytes());
        data[8..12].copy_from_slice(&index_at_8.to_le_bytes());
        data
    }

    #[actix_rt::test]
    async fn learns_sessions_and_judges_data_by_them() {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let collector = Collector(Arc::clone(&reports)).start();
        let mut inspection = Inspection::new(3, collector.recipient());
        let data_for_42 = parse(&message(4, 32, 42, 0));
        assert_eq!(inspection.inbound(data_for_42), Inbound::UnknownSession(42));
        assert_eq!(
            inspection.inbound(parse(&message(2, 92, 5, 42))),
            Inbound::UnknownSession(42),
            "a response to a handshake WireGuard never started here"
        );
        inspection.learn_from_wireguard(&message(2, 92, 42, 7)); // response: sender 42, receiver 7
        assert_eq!(
            inspection.inbound(data_for_42),
            Inbound::ForwardEstablishing
        );
        assert_eq!(
            inspection.inbound(parse(&message(3, 64, 42, 0))),
            Inbound::Forward,
            "a cookie reply for a known index"
        );
        assert_eq!(inspection.inbound(parse(b"garbage")), Inbound::NotWireGuard);
        assert_eq!(
            inspection.inbound(parse(&message(1, 148, 9, 0))),
            Inbound::Forward,
            "initiations pass"
        );
        for index in 100..100 + SESSIONS_PER_CLIENT as u32 {
            inspection.learn_from_wireguard(&message(1, 148, index, 0));
        }
        assert_eq!(
            inspection.inbound(data_for_42),
            Inbound::UnknownSession(42),
            "the oldest index is forgotten"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let reports = reports.lock().unwrap();
        assert_eq!(
            reports[0],
            EndpointReport::SessionLearned {
                client: 3,
                index: 42
            }
        );
        assert!(reports.contains(&EndpointReport::SessionForgotten {
            client: 3,
            index: 42
        }));
    }

    #[actix_rt::test]
    async fn initiations_are_bounded_until_wireguard_answers() {
        let collector = Collector::default().start();
        let mut inspection = Inspection::new(4, collector.recipient());
        let initiation = parse(&message(1, 148, 9, 0));
        for _ in 0..INITIATIONS_BEFORE_ANSWER {
            assert_eq!(inspection.inbound(initiation), Inbound::Forward);
        }
        assert_eq!(inspection.inbound(initiation), Inbound::TooManyInitiations);
        inspection.learn_from_wireguard(&message(2, 92, 77, 9));
        assert_eq!(
            inspection.inbound(initiation),
            Inbound::Forward,
            "a client WireGuard answered may rekey as it likes"
        );
    }

    #[actix_rt::test]
    async fn wireguard_data_goes_out_only_for_this_clients_sessions() {
        let collector = Collector::default().start();
        let mut inspection = Inspection::new(5, collector.recipient());
        let data_for = |index| message(4, 32, index, 0);
        assert!(
            !inspection.learn_from_wireguard(&data_for(0xC1)),
            "no handshake yet: WireGuard's data is another client's"
        );
        // The client initiates (sender 0xC1); WireGuard answers (sender 0x51, receiver 0xC1).
        assert_eq!(
            inspection.inbound(parse(&message(1, 148, 0xC1, 0))),
            Inbound::Forward
        );
        assert!(inspection.learn_from_wireguard(&message(2, 92, 0x51, 0xC1)));
        assert!(inspection.learn_from_wireguard(&data_for(0xC1)));
        assert!(!inspection.learn_from_wireguard(&data_for(0xD1)));
        // WireGuard initiates (sender 0x52); the client answers (sender 0xC2, receiver 0x52).
        assert!(inspection.learn_from_wireguard(&message(1, 148, 0x52, 0)));
        assert_eq!(
            inspection.inbound(parse(&message(2, 92, 0xC2, 0x52))),
            Inbound::Forward
        );
        assert!(inspection.learn_from_wireguard(&data_for(0xC2)));
        // A response naming no session of this client teaches nothing.
        assert_eq!(
            inspection.inbound(parse(&message(2, 92, 0xE2, 0x99))),
            Inbound::UnknownSession(0x99)
        );
        assert!(!inspection.learn_from_wireguard(&data_for(0xE2)));
        assert!(
            inspection.learn_from_wireguard(&message(3, 64, 0xAB, 0)),
            "cookies pass"
        );
    }

    #[test]
    fn a_new_address_gets_handshake_answers_only() {
        assert!(allowed_before_established(&message(2, 92, 1, 2)));
        assert!(allowed_before_established(&message(3, 64, 1, 0)));
        assert!(!allowed_before_established(&message(4, 32, 1, 0)));
        assert!(!allowed_before_established(&message(1, 148, 1, 0)));
        assert!(!allowed_before_established(b"anything else"));
    }
}
