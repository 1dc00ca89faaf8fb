//! Provisioning cycles: what the engine decides, without doing it. An object mapping is compiled once per cycle
//! ([`mapping`]); a source object evaluates to the values its target object should have; [`export`] turns the
//! difference with the target's copy into the SCIM requests Entra would send ([`target`] places attribute paths in
//! SCIM resources). The state a job keeps between cycles (its watermark, the links between source and target
//! objects, the escrowed failures, its lease) is [`state`]. The worker does the I/O: it reads the directory and the
//! target, sends the requests and records the outcome.

pub mod export;
pub mod mapping;
pub mod state;
pub mod target;
