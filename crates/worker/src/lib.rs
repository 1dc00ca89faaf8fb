//! The provisioning worker: what runs the provisioning service in time. It owns the notification email
//! ([`notify`]): the notice a job sends when it enters quarantine or a cycle ends with failures, its rendering, and
//! the SMTP transport that carries it.

pub mod notify;
