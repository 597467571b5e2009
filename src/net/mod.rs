//! Sockets: how they are built ([`socket`]), how batches of datagrams are
//! read ([`recv`]) and written ([`send`]) with as few system calls as
//! possible, the switches for those batched calls ([`io_mode`]), and the
//! stream that feeds a socket's datagrams to an actor ([`stream`]).

pub mod io_mode;
pub mod recv;
pub mod send;
pub mod sockaddr;
pub mod socket;
pub mod stream;

pub use send::{GsoState, SendReport, send_datagrams};
pub use stream::DatagramStream;
