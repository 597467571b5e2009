//! A packet queue's receiving half as a `Stream`, for `ctx.add_stream`.

use super::messages::{PacketReceiver, WgPacket};
use actix::prelude::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields the batches put in a packet queue; ends when every sender is gone.
pub struct QueueStream(pub PacketReceiver);

impl Stream for QueueStream {
    type Item = WgPacket;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WgPacket>> {
        self.get_mut().0.poll_recv(cx)
    }
}
