//! Start, PID file modes, graceful stop, `gatehouse stop`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use support::{eventually, get, parse_response, wait_exit, Gateway, TempInstance, BIN};

/// A PID that belonged to a process that has exited.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn start_prints_the_ports_and_writes_a_pid_file_that_stop_removes() {
    let t = TempInstance::new();
    t.write("config/admin.json", r#"{ "connectors": [ { "port": [0, 0], "host": "127.0.0.1" } ] }"#);
    let mut gw = Gateway::start(&t.dir);
    assert_eq!(gw.ports.len(), 2, "{}", gw.stdout_line);
    assert!(gw.stdout_line.contains(&format!("on ports : [{} {}]", gw.ports[0], gw.ports[1])), "{}", gw.stdout_line);
    for port in &gw.ports {
        assert_eq!(get(*port, "/openig/ping").status, 200);
    }
    let pid: u32 = std::fs::read_to_string(t.path("gatehouse.pid")).unwrap().trim().parse().unwrap();
    assert_eq!(pid, gw.child.id());
    assert_eq!(gw.terminate(), Some(0));
    assert!(!t.path("gatehouse.pid").exists());
}

#[test]
fn a_second_start_on_a_running_instance_fails_clearly() {
    let t = TempInstance::new();
    let _gw = Gateway::start(&t.dir);
    let err = Gateway::try_start(&t.dir, &[("IG_PID_FILE_MODE", "override")]).err().unwrap();
    assert!(err.contains("already running"), "{err}");
    assert!(err.contains("exit Some(1)"), "{err}");
}

#[test]
fn a_stale_pid_file_fails_unless_the_mode_is_override() {
    let t = TempInstance::new();
    std::fs::write(t.path("gatehouse.pid"), format!("{}\n", dead_pid())).unwrap();
    let err = Gateway::try_start(&t.dir, &[]).err().unwrap();
    assert!(err.contains("pidFileMode") && err.contains("IG_PID_FILE_MODE=override"), "{err}");

    let mut gw = Gateway::start_with(&t.dir, &[("IG_PID_FILE_MODE", "override")]);
    assert_eq!(get(gw.port(), "/openig/ping").status, 200);
    assert_eq!(gw.terminate(), Some(0));

    std::fs::write(t.path("gatehouse.pid"), format!("{}\n", dead_pid())).unwrap();
    t.write(
        "config/admin.json",
        r#"{ "pidFileMode": "override", "connectors": [ { "port": 0, "host": "127.0.0.1" } ] }"#,
    );
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/openig/ping").status, 200);
}

fn in_flight(port: u16) -> i64 {
    get(port, "/openig/metrics/prometheus")
        .body
        .lines()
        .find_map(|l| l.strip_prefix("gatehouse_exchanges_in_flight "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

#[test]
fn stop_lets_in_flight_exchanges_finish_then_exits() {
    let t = TempInstance::new();
    t.route(
        "echo.json",
        r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "got ${request.entity.string}" } } }"#,
    );
    let mut gw = Gateway::start(&t.dir);
    let port = gw.port();

    // An exchange in flight: the head and half the body are sent.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhalf").unwrap();
    // The metrics request counts itself, so 2 means ours is being handled.
    eventually("the exchange is in flight", || in_flight(port) == 2);

    let stop = Command::new(BIN).arg("stop").arg(&t.dir).spawn().unwrap();
    gw.wait_for_log("closed; draining its connections");
    assert!(get_fails(port), "no new exchanges once stopping");

    s.write_all(b"done").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let resp = parse_response(&raw).unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (200, "got halfdone"));

    let mut stop = stop;
    assert_eq!(wait_exit(&mut stop, Duration::from_secs(30)), Some(0), "gatehouse stop reports success");
    assert_eq!(wait_exit(&mut gw.child, Duration::from_secs(30)), Some(0));
    assert!(!t.path("gatehouse.pid").exists());
}

/// Whether a request on a new connection fails (the listener may linger in the backlog).
fn get_fails(port: u16) -> bool {
    support::request(port, "GET", "/openig/ping", &[], "").is_err()
}

#[test]
fn stop_without_a_running_gateway_fails_clearly() {
    let t = TempInstance::new();
    let out = Command::new(BIN).arg("stop").arg(&t.dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running"));
}

#[test]
fn start_without_an_instance_creates_a_welcome_instance_in_home() {
    let home = TempInstance::bare();
    let instance = home.dir.join(".gatehouse");
    let mut cmd = Command::new(BIN);
    cmd.arg("start").env("HOME", &home.dir).env_remove("GATEHOUSE_BASE");
    // It listens on 8080, as IG does; on a machine where 8080 is taken it fails to bind,
    // after creating the instance. Either way the instance is there.
    let first = Gateway::spawn(cmd);
    assert!(instance.join("config/routes/00-welcome.json").exists());
    assert!(instance.join("logs").is_dir() && instance.join("tmp").is_dir());
    match first {
        Ok(gw) => {
            assert!(gw.stdout_line.contains("on ports : [8080]"), "{}", gw.stdout_line);
            assert!(get(8080, "/").body.contains("Welcome to Gatehouse"));
        }
        Err(e) => assert!(e.contains("cannot listen on 0.0.0.0:8080"), "{e}"),
    }
}

#[test]
fn gateway_units_serve_side_by_side_and_a_bad_count_names_its_position() {
    let t = TempInstance::new();
    t.write("config/admin.json", r#"{ "gatewayUnits": 3, "connectors": [ { "port": 0, "host": "127.0.0.1" } ] }"#);
    t.route(
        "echo.json",
        r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "${request.uri.path}" } } }"#,
    );
    let mut gw = Gateway::start(&t.dir);
    let port = gw.port();
    // Each unit names its thread as it starts (bounded wait: the names come a moment later).
    let pid = gw.child.id();
    let units = || {
        let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_string())
            .filter(|name| name.starts_with("gateway-unit"))
            .collect();
        names.sort();
        names
    };
    eventually("three gateway units", || units() == ["gateway-unit-0", "gateway-unit-1", "gateway-unit-2"]);
    // Clients at once, each with requests on one keep-alive connection: every answer is its own.
    let clients: Vec<_> = (0..24)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                for i in 0..10 {
                    let path = format!("/c{c}/r{i}");
                    let close = if i == 9 { "Connection: close\r\n" } else { "" };
                    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n{close}\r\n").as_bytes()).unwrap();
                    let mut raw = Vec::new();
                    let mut buf = [0u8; 1024];
                    // Bounded: the answer is small, its body is the path.
                    while !String::from_utf8_lossy(&raw).ends_with(&path) {
                        let n = s.read(&mut buf).unwrap();
                        assert!(n > 0, "closed before the answer to {path}");
                        raw.extend_from_slice(&buf[..n]);
                    }
                    assert!(raw.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&raw));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    gw.terminate();
    assert_eq!(wait_exit(&mut gw.child, Duration::from_secs(30)), Some(0));

    for bad in ["0", "\"two\"", "2000"] {
        t.write(
            "config/admin.json",
            &format!("{{\n  \"gatewayUnits\": {bad},\n  \"connectors\": [ {{ \"port\": 0 }} ] }}"),
        );
        let (code, out) = support::check(&t.dir);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains("admin.json:2:"), "{out}");
        assert!(out.contains("gatewayUnits"), "{out}");
    }
}

#[test]
fn bin_env_sh_sets_variables_and_system_properties_as_igs_start_script_does() {
    let t = TempInstance::new();
    // The reference guide's env.sh examples, verbatim, and a variable and a property of ours.
    let guide = include_str!("fixtures/guide/env.sh");
    t.write(
        "bin/env.sh",
        &format!(
            "{guide}export \"IG_OPTS=-Dig.pid.file.mode=override ${{IG_OPTS}} -Dwelcome.text=from-a-system-property\"\n\
             export GREETING='hello from env.sh'\n"
        ),
    );
    t.route(
        "hello.json",
        r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "&{greeting} / &{welcome.text}" } } }"#,
    );
    // A stale PID file: the system property from IG_OPTS says override, as in the guide.
    std::fs::write(t.path("gatehouse.pid"), format!("{}\n", dead_pid())).unwrap();
    let mut gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/hello").body, "hello from env.sh / from-a-system-property");
    let logs = gw.logs();
    assert_eq!(logs.matches("JVM options have no meaning").count(), 1, "{logs}");
    assert!(logs.contains("-Xms256m -Xmx2048m"), "{logs}");
    assert!(logs.contains("env.sh:5: only variable assignments are read"), "{logs}");
    assert_eq!(gw.terminate(), Some(0));
    // The environment the gateway was started with comes first where env.sh does not assign.
    let mut gw = Gateway::start_with(&t.dir, &[("WELCOME_TEXT", "from-the-environment")]);
    assert_eq!(get(gw.port(), "/hello").body, "hello from env.sh / from-the-environment");
    assert_eq!(gw.terminate(), Some(0));
}

#[test]
fn files_other_users_can_read_are_named_at_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let chmod =
        |p: &std::path::Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    let t = TempInstance::new();
    // A secret directory outside the instance, as keystores often are.
    let keys = t.dir.with_file_name(format!("{}-keys", t.dir.file_name().unwrap().to_string_lossy()));
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("api.key"), "s3cret").unwrap();
    chmod(&keys, 0o755);
    chmod(&keys.join("api.key"), 0o644);
    t.write(
        "config/config.json",
        &format!(
            r#"{{ "heap": [ {{ "name": "Keys", "type": "FileSystemSecretStore", "config": {{ "directory": "{}", "format": "PLAIN" }} }} ],
                 "handler": {{ "type": "Router" }} }}"#,
            keys.display()
        ),
    );
    chmod(&t.dir, 0o755);
    chmod(&t.path("config"), 0o755);
    chmod(&t.path("config/config.json"), 0o644);
    let mut gw = Gateway::start(&t.dir);
    gw.wait_for_log("readable by other users");
    let logs = gw.logs();
    let line = logs.lines().find(|l| l.contains("readable by other users")).unwrap_or_else(|| panic!("{logs}"));
    assert!(line.contains("config/config.json") && line.contains("api.key"), "{line}");
    assert!(!line.contains("s3cret"), "{line}");
    assert_eq!(gw.terminate(), Some(0));
    // Secured as the guide says: the instance directory private, the key file too.
    chmod(&t.dir, 0o700);
    chmod(&keys.join("api.key"), 0o600);
    let mut gw = Gateway::start(&t.dir);
    assert_eq!(gw.terminate(), Some(0));
    // Its last line read means every line before it was.
    gw.wait_for_log("INFO stopped");
    assert!(!gw.logs().contains("readable by other users"), "{}", gw.logs());
    std::fs::remove_dir_all(&keys).unwrap();
}
