//! Domain logic. It works on the ports only: no client is built here.

pub mod broadcast;
pub mod connection;
pub mod fanout;
pub mod send;
