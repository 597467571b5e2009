//! [`DatagramStream`]: a socket's incoming datagrams as a stream of batches.
//!
//! An actor registers it with `ctx.add_stream`; each item is one batch read
//! with one system call (actix then yields after 16 items, which bounds the
//! work per wake-up). Batches come from a [`BatchPool`], so reading does
//! not allocate once the pool is warm.

use crate::net::recv::recv_batch;
use crate::packet::{BatchPool, PacketBatch};
use actix::prelude::Stream;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Reads batches of datagrams from a shared socket.
pub struct DatagramStream {
    socket: Arc<UdpSocket>,
    pool: BatchPool,
}

impl DatagramStream {
    /// A stream over `socket` (which other code may also send on).
    pub fn new(socket: Arc<UdpSocket>) -> Self {
        Self {
            socket,
            pool: BatchPool::new(),
        }
    }
}

impl Stream for DatagramStream {
    /// A batch, or a receive error (e.g. `ECONNREFUSED` after an ICMP error
    /// on a connected socket); errors do not end the stream.
    type Item = io::Result<Arc<PacketBatch>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Err(error) = ready!(this.socket.poll_recv_ready(cx)) {
                return Poll::Ready(Some(Err(error)));
            }
            let socket = &this.socket;
            let mut drained = false;
            let result = this.pool.fill(|batch| {
                let asked =
                    socket.try_io(Interest::READABLE, || recv_batch(socket.as_fd(), batch))?;
                drained = batch.len() < asked;
                // One clock read per system call, for the path analytics.
                batch.set_received_at(Instant::now());
                Ok::<(), io::Error>(())
            });
            match result {
                Ok(batch) => {
                    if drained {
                        // recvmmsg returned early, so the queue was empty: forget the
                        // readiness now instead of paying a system call to learn it.
                        // A datagram arriving meanwhile raises a new (edge-triggered)
                        // event, so nothing is missed.
                        let _ = socket.try_io(Interest::READABLE, || {
                            Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
                        });
                    }
                    return Poll::Ready(Some(Ok(batch)));
                }
                // Readiness was stale; try_io cleared it, so polling again registers the waker.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Poll::Ready(Some(Err(error))),
            }
        }
    }
}
