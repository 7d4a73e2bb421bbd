//! The packaging an operator installs: the systemd unit (checked by systemd's own tools) and
//! the container image's Dockerfile, and what both rely on from the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::process::Command;

use support::{TempInstance, BIN};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap()
}

/// The `Key=value` lines of a unit, in order.
fn keys(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn the_systemd_unit_verifies_and_runs_sandboxed_as_its_own_account() {
    let unit = read("packaging/systemd/gatehouse.service");
    let k = keys(&unit);
    let get_key = |name: &str| k.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
    assert_eq!(get_key("User"), ["gatehouse"]);
    assert_eq!(get_key("NoNewPrivileges"), ["yes"]);
    assert_eq!(get_key("ProtectSystem"), ["strict"]);
    // The instance directory is the only place it may write.
    assert_eq!(get_key("ReadWritePaths"), ["/var/lib/gatehouse"]);
    assert_eq!(get_key("StateDirectory"), ["gatehouse"]);
    assert_eq!(get_key("ExecStart"), ["/usr/local/bin/gatehouse start /var/lib/gatehouse"]);
    let sysusers = read("packaging/systemd/gatehouse.sysusers");
    assert!(sysusers.lines().any(|l| l.starts_with("u gatehouse ")), "{sysusers}");

    // systemd's verifier, with ExecStart pointing at the binary under test (it checks that the
    // command exists): no error and no warning.
    let dir = TempInstance::new();
    let path = dir.path("gatehouse.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/gatehouse", BIN)).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify:\n{said}");
    // And its exposure score: the sandbox it describes, as systemd rates it (0 best, 10 worst).
    let out =
        Command::new("systemd-analyze").args(["security", "--offline=yes", "--no-pager"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for gatehouse.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(score <= 2.0, "exposure {score}:\n{text}");
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_runs_in_another_as_a_non_root_user() {
    let file = read("packaging/Dockerfile");
    let lines: Vec<&str> = file.lines().map(str::trim).filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    let froms: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].ends_with(" AS build"), "{froms:?}");
    let last_stage = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    let runtime = &lines[last_stage..];
    let users: Vec<&&str> = runtime.iter().filter(|l| l.starts_with("USER ")).collect();
    assert_eq!(users, [&"USER 10001:10001"], "the image runs as uid 10001, never root");
    assert!(runtime.iter().any(|l| l.starts_with("COPY --from=build ")), "{runtime:?}");
    assert!(runtime.contains(&r#"ENTRYPOINT ["/usr/local/bin/gatehouse"]"#), "{runtime:?}");
    assert!(runtime.contains(&r#"CMD ["start", "/var/lib/gatehouse"]"#), "{runtime:?}");
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l == "target"), "{ignore}");
}
