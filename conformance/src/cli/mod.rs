//! The `fabric` command line: the arguments here, running them in
//! [`run`], and what replay prints in [`report`]. The binary only parses and
//! calls [`run()`].

pub mod args;
pub mod report;
pub mod run;

pub use args::{Cli, Command, DemoCommand, Format, ServeCommand, TracesCommand};
pub use run::{default_log_filter, run};

/// Whether `error` is, somewhere in its chain, a write to a closed pipe:
/// standard output's reader went away (`fabric claims | head -1`). Every
/// command prints with `writeln!(...)?`, so such a write ends the command
/// with this error instead of a panic, and the binary exits quietly.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
