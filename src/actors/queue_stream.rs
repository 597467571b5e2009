//! A packet queue's receiving half as a `Stream`, for `ctx.add_stream`.

use super::messages::{PacketReceiver, WgPacketGroup};
use actix::prelude::Stream;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Yields the batches put in a packet queue, as many as are waiting (up to
/// a group) at a time; ends when every sender is gone.
pub struct QueueStream(pub PacketReceiver);

impl Stream for QueueStream {
    type Item = WgPacketGroup;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WgPacketGroup>> {
        let receiver = &mut self.get_mut().0;
        let Some(first) = ready!(receiver.poll_recv(cx)) else {
            return Poll::Ready(None);
        };
        let mut group = WgPacketGroup::one(first);
        while !group.is_full() {
            match receiver.try_recv() {
                Ok(packet) => {
                    group.push(packet);
                }
                Err(_) => break,
            }
        }
        Poll::Ready(Some(group))
    }
}
