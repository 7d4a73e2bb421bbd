//! `gatehouse stop`: SIGTERM through the PID file, then wait for the process to exit.

use std::process::ExitCode;
use std::time::Duration;

use gatehouse_server::{is_live_gatehouse, read_pid, Instance};
use rustix::process::{kill_process, Pid, Signal};

/// Stops the gateway of `instance`, waiting up to `timeout`.
pub fn stop(instance: &Instance, timeout: Duration) -> ExitCode {
    let path = instance.pid_file();
    let Some(pid) = read_pid(&path) else {
        eprintln!("Gatehouse is not running for {} (no PID file at {})", instance.dir.display(), path.display());
        return ExitCode::FAILURE;
    };
    if !is_live_gatehouse(pid) {
        eprintln!("Gatehouse is not running (stale PID file {} names PID {pid})", path.display());
        return ExitCode::FAILURE;
    }
    let Some(p) = Pid::from_raw(pid) else {
        eprintln!("invalid PID {pid} in {}", path.display());
        return ExitCode::FAILURE;
    };
    if let Err(e) = kill_process(p, Signal::TERM) {
        eprintln!("cannot signal PID {pid}: {e}");
        return ExitCode::FAILURE;
    }
    let clock = gatehouse_core::Clock::system();
    let deadline = clock.instant() + timeout;
    while is_live_gatehouse(pid) {
        if clock.instant() >= deadline {
            eprintln!("Gatehouse (PID {pid}) did not stop within {timeout:?}");
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("Gatehouse (PID {pid}) stopped");
    ExitCode::SUCCESS
}
