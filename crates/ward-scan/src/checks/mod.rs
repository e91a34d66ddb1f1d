//! The checks, each a function over a [`crate::net::Connector`] returning a
//! typed report. [`crate::Scanner`] turns reports into findings; callers
//! that want the raw reports can call these directly.

pub mod http;
pub mod portscan;
pub mod rdp;
pub mod smb;
pub mod tls;
