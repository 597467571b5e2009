//! Batches of received datagrams, recycled so the data path does not allocate.
//!
//! A [`PacketBatch`] holds up to [`BATCH_CAPACITY`] datagrams, each in its own
//! slot of [`MAX_DATAGRAM`] bytes (WireGuard may emit datagrams larger than
//! 1,500 bytes; the Go engarde truncated them, we must not). Slots are
//! allocated once and never zeroed: only the pages the kernel writes into
//! become resident, so a batch of small datagrams costs a page per slot.
//!
//! Batches travel between actors behind an `Arc`: a fan-out to N links is N
//! reference-count increments. The receiver gets its batches from a
//! [`BatchPool`], which hands back a batch once every consumer has dropped
//! its reference, so in steady state no memory is allocated per packet.

use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// The largest UDP payload there is; every slot can hold one.
pub const MAX_DATAGRAM: usize = 65_535;

/// Distance between slots: a page multiple, so a small datagram touches
/// one page of its slot rather than straddling two.
const SLOT_STRIDE: usize = 65_536;

/// Datagrams read per receive call (one `recvmmsg`), and so per batch.
pub const BATCH_CAPACITY: usize = 32;

/// How many batches a receiver keeps for reuse before it allocates extra ones.
pub const POOL_BATCHES: usize = 8;

/// Where one datagram came from and where it was addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramMeta {
    /// Payload length in bytes.
    pub len: usize,
    /// The sender's address.
    pub source: SocketAddr,
    /// The local address the datagram was sent to, when the socket reports it
    /// (the server listens on a wildcard address and must answer from the
    /// address each client talks to).
    pub local: Option<IpAddr>,
}

impl Default for DatagramMeta {
    fn default() -> Self {
        Self {
            len: 0,
            source: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            local: None,
        }
    }
}

/// Up to [`BATCH_CAPACITY`] datagrams with their addresses.
pub struct PacketBatch {
    /// `BATCH_CAPACITY` slots of `MAX_DATAGRAM` bytes, left uninitialised
    /// until the kernel writes into them.
    slots: Box<[MaybeUninit<u8>]>,
    /// Metadata of the first `count` slots.
    meta: [DatagramMeta; BATCH_CAPACITY],
    /// Number of datagrams held.
    count: usize,
    /// When the receive call that filled it returned (path analytics
    /// compare the arrival times of copies on different paths).
    received_at: Option<Instant>,
}

/// One datagram of a batch, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// The payload.
    pub data: &'a [u8],
    /// Its addresses.
    pub meta: &'a DatagramMeta,
}

impl PacketBatch {
    /// An empty batch with room for [`BATCH_CAPACITY`] datagrams of any size.
    pub fn new() -> Self {
        Self {
            slots: Box::new_uninit_slice(BATCH_CAPACITY * SLOT_STRIDE),
            meta: [DatagramMeta::default(); BATCH_CAPACITY],
            count: 0,
            received_at: None,
        }
    }

    /// A batch holding copies of `datagrams`, all from `source` (tests and tools).
    pub fn from_datagrams<'a>(
        datagrams: impl IntoIterator<Item = &'a [u8]>,
        source: SocketAddr,
    ) -> Self {
        let mut batch = Self::new();
        for data in datagrams {
            assert!(
                batch.push(data, source),
                "more than BATCH_CAPACITY datagrams or one too large"
            );
        }
        batch
    }

    /// Number of datagrams in the batch.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the batch holds no datagram.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sum of the payload lengths.
    pub fn total_bytes(&self) -> usize {
        self.meta[..self.count].iter().map(|m| m.len).sum()
    }

    /// The datagram at `index` (< `len()`).
    pub fn get(&self, index: usize) -> Datagram<'_> {
        assert!(index < self.count, "datagram index out of range");
        let meta = &self.meta[index];
        let slot = &self.slots[index * SLOT_STRIDE..index * SLOT_STRIDE + meta.len];
        // SAFETY: `meta.len` bytes at the start of slot `index` were written,
        // either by the kernel (`commit` is only called with the length
        // `recvmmsg` reported) or by `push`; MaybeUninit<u8> and u8 have the
        // same layout.
        let data = unsafe { &*(slot as *const [MaybeUninit<u8>] as *const [u8]) };
        Datagram { data, meta }
    }

    /// The datagrams in order.
    pub fn iter(&self) -> impl Iterator<Item = Datagram<'_>> {
        (0..self.count).map(|i| self.get(i))
    }

    /// Empties the batch; slot memory is kept.
    pub fn clear(&mut self) {
        self.count = 0;
        self.received_at = None;
    }

    /// Records when the datagrams were received.
    pub fn set_received_at(&mut self, at: Instant) {
        self.received_at = Some(at);
    }

    /// When the datagrams were received, if the receiver said so.
    pub fn received_at(&self) -> Option<Instant> {
        self.received_at
    }

    /// Appends a copy of `data`; false when the batch is full or `data` too large.
    pub fn push(&mut self, data: &[u8], source: SocketAddr) -> bool {
        if self.count == BATCH_CAPACITY || data.len() > MAX_DATAGRAM {
            return false;
        }
        let slot = self.slot_mut(self.count);
        for (dst, src) in slot.iter_mut().zip(data) {
            dst.write(*src);
        }
        // SAFETY: the first data.len() bytes of the next slot were just written.
        unsafe {
            self.commit(DatagramMeta {
                len: data.len(),
                source,
                local: None,
            })
        };
        true
    }

    /// The writable memory of slot `index`, for a receive call.
    pub(crate) fn slot_mut(&mut self, index: usize) -> &mut [MaybeUninit<u8>] {
        &mut self.slots[index * SLOT_STRIDE..index * SLOT_STRIDE + MAX_DATAGRAM]
    }

    /// Start of slot `index`'s memory, for a receive call that fills several
    /// slots at once; the slot holds [`MAX_DATAGRAM`] bytes.
    pub(crate) fn slot_ptr(&mut self, index: usize) -> *mut u8 {
        self.slot_mut(index).as_mut_ptr().cast()
    }

    /// Records that slot `len()` now holds a datagram described by `meta`.
    ///
    /// # Safety
    /// The first `meta.len` bytes of slot `len()` must have been written.
    pub(crate) unsafe fn commit(&mut self, meta: DatagramMeta) {
        debug_assert!(self.count < BATCH_CAPACITY && meta.len <= MAX_DATAGRAM);
        self.meta[self.count] = meta;
        self.count += 1;
    }
}

impl Default for PacketBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PacketBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketBatch")
            .field("count", &self.count)
            .field("bytes", &self.total_bytes())
            .finish()
    }
}

/// Batches owned by one receiver, reused once their consumers let go.
#[derive(Default)]
pub struct BatchPool {
    batches: Vec<Arc<PacketBatch>>,
}

impl BatchPool {
    /// An empty pool; batches are allocated on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills a free batch with `fill` and returns it ready to share.
    ///
    /// A batch is free when no consumer holds it any more. When all
    /// [`POOL_BATCHES`] are still in flight (consumers fall behind), a
    /// batch outside the pool is allocated rather than waiting.
    pub fn fill<E>(
        &mut self,
        fill: impl FnOnce(&mut PacketBatch) -> Result<(), E>,
    ) -> Result<Arc<PacketBatch>, E> {
        let index = match self
            .batches
            .iter_mut()
            .position(|b| Arc::get_mut(b).is_some())
        {
            Some(index) => index,
            None if self.batches.len() < POOL_BATCHES => {
                self.batches.push(Arc::new(PacketBatch::new()));
                self.batches.len() - 1
            }
            None => {
                let mut spare = PacketBatch::new();
                fill(&mut spare)?;
                return Ok(Arc::new(spare));
            }
        };
        let batch = Arc::get_mut(&mut self.batches[index]).expect("batch was found unshared");
        batch.clear();
        fill(batch)?;
        Ok(Arc::clone(&self.batches[index]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    #[test]
    fn holds_datagrams_of_every_size() {
        let big = vec![7u8; MAX_DATAGRAM];
        let batch = PacketBatch::from_datagrams([&b"x"[..], &big[..], &[][..]], addr());
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.get(0).data, b"x");
        assert_eq!(batch.get(1).data, &big[..]);
        assert!(batch.get(2).data.is_empty());
        assert_eq!(batch.total_bytes(), 1 + MAX_DATAGRAM);
    }

    #[test]
    fn refuses_overflow() {
        let mut batch = PacketBatch::new();
        for _ in 0..BATCH_CAPACITY {
            assert!(batch.push(b"a", addr()));
        }
        assert!(!batch.push(b"a", addr()));
        assert!(!PacketBatch::new().push(&vec![0; MAX_DATAGRAM + 1], addr()));
    }

    #[test]
    fn pool_reuses_a_batch_once_consumers_drop_it() {
        let mut pool = BatchPool::new();
        let first = pool
            .fill::<()>(|b| b.push(b"1", addr()).then_some(()).ok_or(()))
            .unwrap();
        let first_ptr = Arc::as_ptr(&first);
        drop(first);
        let second = pool
            .fill::<()>(|b| b.push(b"2", addr()).then_some(()).ok_or(()))
            .unwrap();
        assert_eq!(Arc::as_ptr(&second), first_ptr, "a dropped batch is reused");
        assert_eq!(second.len(), 1, "a reused batch starts empty");
        let held: Vec<_> = (0..POOL_BATCHES + 2)
            .map(|_| pool.fill::<()>(|_| Ok(())).unwrap())
            .collect();
        assert_eq!(
            held.len(),
            POOL_BATCHES + 2,
            "a busy pool still hands out batches"
        );
    }
}
