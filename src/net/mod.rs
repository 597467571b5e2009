//! Sockets: how they are built ([`socket`]), how batches of datagrams are
//! read and written with as few system calls as possible ([`batch_io`]),
//! and the stream that feeds a socket's datagrams to an actor ([`stream`]).

pub mod batch_io;
pub mod sockaddr;
pub mod socket;
pub mod stream;

pub use batch_io::{SendReport, send_batch};
pub use stream::DatagramStream;
