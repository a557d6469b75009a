//! The Koji client: the hub's XML-RPC API over HTTP(S) and the topdir layout.
//! (Being built for #3.)
