//! Domain logic. It works on the ports only: no client is built here.

pub mod actions;
pub mod broadcast;
pub mod fanout;
