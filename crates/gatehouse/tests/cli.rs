//! The command line: version, help, JSON logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::process::Command;

use support::{get, Gateway, TempInstance, BIN};

#[test]
fn version_and_help_answer() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    // The version and the commit built: git's own answer in a checkout.
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "unknown".to_string(), |o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("gatehouse {} (git {rev})", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["start", "stop", "check", "--log-format"] {
        assert!(help.contains(word), "{help}");
    }
    let out = Command::new(BIN).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown subcommand is a usage error");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let t = TempInstance::new();
    let mut cmd = Command::new(BIN);
    cmd.args(["--log-format", "json", "start"]).arg(&t.dir);
    let gw = Gateway::spawn(cmd).unwrap();
    assert_eq!(get(gw.port(), "/openig/ping").status, 200);
    gw.wait_for_log("started in");
    for line in gw.logs().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        // The documented, stable field names (docs/operations.md "Logs").
        for field in ["timestamp", "level", "target", "fields"] {
            assert!(v.get(field).is_some(), "{field} missing: {line}");
        }
        assert!(v["fields"].get("message").is_some(), "{line}");
    }
}

#[test]
fn admin_json_sets_log_levels_per_module_unless_rust_log_does() {
    let t = TempInstance::new();
    t.write(
        "config/admin.json",
        r#"{ "logLevel": "warn,gatehouse_server=debug", "connectors": [ { "port": 0, "host": "127.0.0.1" } ] }"#,
    );
    let start = |rust_log: &str| {
        let mut cmd = Command::new(BIN);
        cmd.arg("start").arg(&t.dir).env("RUST_LOG", rust_log);
        Gateway::spawn(cmd).unwrap()
    };
    // No RUST_LOG: admin.json's levels, debug for the server module (the router's watch).
    let mut gw = start("");
    gw.wait_for_log("DEBUG watching for route changes");
    assert_eq!(gw.terminate(), Some(0));
    // RUST_LOG wins.
    let mut gw = start("info");
    assert_eq!(gw.terminate(), Some(0));
    gw.wait_for_log("INFO stopped");
    assert!(!gw.logs().contains("DEBUG"), "{}", gw.logs());
    // A filter that is not one is a configuration error with its position.
    t.write("config/admin.json", "{ \"connectors\": [ { \"port\": 0 } ],\n  \"logLevel\": \"gatehouse=loud\" }");
    let out = Command::new(BIN).arg("check").arg(&t.dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("admin.json:2:") && text.contains("logLevel"), "{text}");
}
