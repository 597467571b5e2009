//! Recognising WireGuard messages from their clear-text header (GUIDE §2),
//! without decrypting anything and without allocating.
//!
//! All integers are little-endian; the first byte is the message type,
//! followed by three reserved zero bytes. Anything that is not one of the
//! four shapes below is not WireGuard.

/// A WireGuard message, borrowed from the datagram that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// Type 1, 148 bytes: starts a handshake.
    HandshakeInitiation {
        /// The index the initiator wants to be addressed by.
        sender_index: u32,
    },
    /// Type 2, 92 bytes: answers an initiation.
    HandshakeResponse {
        /// The index the responder wants to be addressed by.
        sender_index: u32,
        /// The initiator's index.
        receiver_index: u32,
    },
    /// Type 3, 64 bytes: asks the other side to retry with a cookie.
    CookieReply {
        /// The index of the handshake it answers.
        receiver_index: u32,
    },
    /// Type 4, at least 32 bytes: encrypted data. Any length from 32 on:
    /// WireGuard pads the inner packet to a multiple of 16 bytes, but never
    /// beyond the tunnel's MTU, so a full-size packet (1,420 bytes in a
    /// 1,420 MTU tunnel: a 1,452-byte message) is not a multiple of 16.
    TransportData {
        /// The receiver's session index.
        receiver_index: u32,
        /// The per-session counter (nonce), which WireGuard's replay
        /// protection checks.
        counter: u64,
    },
}

fn u32_at(data: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(data[offset..offset + 4].try_into().expect("4 bytes"))
}

fn u64_at(data: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(data[offset..offset + 8].try_into().expect("8 bytes"))
}

/// Parses `data` as a WireGuard message; `None` when it is not one.
pub fn parse(data: &[u8]) -> Option<Message> {
    let header = data.get(..4)?;
    if header[1..] != [0, 0, 0] {
        return None;
    }
    match (header[0], data.len()) {
        (1, 148) => Some(Message::HandshakeInitiation {
            sender_index: u32_at(data, 4),
        }),
        (2, 92) => Some(Message::HandshakeResponse {
            sender_index: u32_at(data, 4),
            receiver_index: u32_at(data, 8),
        }),
        (3, 64) => Some(Message::CookieReply {
            receiver_index: u32_at(data, 4),
        }),
        (4, len) if len >= 32 => Some(Message::TransportData {
            receiver_index: u32_at(data, 4),
            counter: u64_at(data, 8),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, len: usize) -> Vec<u8> {
        let mut data = vec![0u8; len];
        data[0] = kind;
        data[4..8].copy_from_slice(&0x1122_3344u32.to_le_bytes());
        if len >= 16 {
            data[8..16].copy_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
        }
        data
    }

    #[test]
    fn recognises_the_four_shapes() {
        assert_eq!(
            parse(&message(1, 148)),
            Some(Message::HandshakeInitiation {
                sender_index: 0x1122_3344
            })
        );
        assert_eq!(
            parse(&message(2, 92)),
            Some(Message::HandshakeResponse {
                sender_index: 0x1122_3344,
                receiver_index: 0x0506_0708
            })
        );
        assert_eq!(
            parse(&message(3, 64)),
            Some(Message::CookieReply {
                receiver_index: 0x1122_3344
            })
        );
        assert_eq!(
            parse(&message(4, 32)),
            Some(Message::TransportData {
                receiver_index: 0x1122_3344,
                counter: 0x0102_0304_0506_0708
            })
        );
        assert!(parse(&message(4, 1440)).is_some());
        assert!(
            parse(&message(4, 1452)).is_some(),
            "a full 1,420-byte packet, whose padding stopped at the MTU"
        );
    }

    #[test]
    fn refuses_everything_else() {
        let mut reserved = message(4, 32);
        reserved[2] = 1;
        for data in [
            vec![],
            vec![4, 0, 0],
            message(1, 147),
            message(2, 93),
            message(3, 65),
            message(4, 16),
            message(4, 31),
            message(5, 32),
            reserved,
        ] {
            assert_eq!(parse(&data), None, "{data:?}");
        }
    }
}
