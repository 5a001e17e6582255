//! The HTTP surface: the route table.

pub mod routes;
