//! The one integration-test binary of `zkppd-bench`: a smoke run of every
//! scenario (`scenarios`) and the client against the real server
//! (`client`), both on the `zkppd` binary found by `bins`.

mod bins;
mod client;
mod scenarios;

type TestResult = Result<(), Box<dyn std::error::Error>>;
