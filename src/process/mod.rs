//! The process around the server: the command line, start-up and signals,
//! the client accept loop, applying a reloaded configuration, lame duck
//! mode. It drives the layers below and none of them call back into it.

pub mod cli;
pub mod lameduck;
pub mod launch;
pub mod reload;
pub mod serve;

pub use serve::{run, start, Running};
