//! The DDS side: a ros2-client node with its parameters, subscriptions and publishers,
//! the spinner (parameter services, graph), the inference worker thread and the
//! message loop.
//!
//! Modules (each uses only those listed before it): `clock` (monotonic and wall-clock
//! time), `dds_config` (the domain id and QoS profiles), `ingest` (message handling
//! without any network: checks, transforms, tracks, the rate limit), `dds` (the DDS
//! wiring, the message loop and the shutdown: [`run`]).

mod clock;
mod dds;
mod dds_config;
mod ingest;

pub use dds::run;
