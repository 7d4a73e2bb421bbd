//! The access log as an operator configures it in admin.json: rotation by size and by day, and
//! a retention count (the gateway's clock pinned and moved, never waited for).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use support::{curl, eventually, get, Gateway, TempInstance};

/// The closed access logs in `logs/`, sorted (oldest first), and the live file's lines.
fn logs(t: &TempInstance) -> (Vec<String>, usize) {
    let mut closed: Vec<String> = std::fs::read_dir(t.path("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("access-"))
        .collect();
    closed.sort();
    let live = std::fs::read_to_string(t.path("logs/access.log")).unwrap_or_default().lines().count();
    (closed, live)
}

#[test]
fn the_access_log_rotates_by_size_and_by_day_and_keeps_the_configured_count() {
    let t = TempInstance::new();
    t.write(
        "config/admin.json",
        r#"{ "connectors": [ { "port": 0, "host": "127.0.0.1" } ],
             "accessLog": { "maxSize": "1 KB", "daily": true, "retain": 2 } }"#,
    );
    t.route("ok.json", r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200 } } }"#);
    let gw = Gateway::start_with(&t.dir, &[("GATEHOUSE_TEST_CLOCK", "2030-01-01T23:00:00Z")]);
    // About 100 bytes a line: 1 KB is about ten lines.
    for i in 0..60 {
        assert_eq!(get(gw.port(), &format!("/page/{i}")).status, 200);
    }
    // The writer drains every 50 ms: wait (bounded) until all 60 lines are on disk.
    let total = |t: &TempInstance| {
        let dir = t.path("logs");
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("access"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default().matches("GET /page/").count())
            .sum::<usize>()
    };
    // Done writing means the last line is on disk and no rotation is still to come: either it
    // is in the live file and that file is under 1 KB, or it went to a closed file and the new
    // live file exists (a rotation renames, prunes, then opens: between the first two there
    // are three closed files for a moment).
    let settled = |t: &TempInstance| {
        let last = "GET /page/59 ";
        let Ok(live) = std::fs::read_to_string(t.path("logs/access.log")) else { return false };
        if live.contains(last) {
            return live.len() < 1024;
        }
        logs(t)
            .0
            .iter()
            .any(|n| std::fs::read_to_string(t.path(&format!("logs/{n}"))).unwrap_or_default().contains(last))
    };
    eventually("the lines are written", || {
        let (closed, _) = logs(&t);
        settled(&t) && closed.len() == 2 && total(&t) > 0
    });
    let (closed, live) = logs(&t);
    assert_eq!(closed.len(), 2, "retain 2: {closed:?}");
    assert!(closed.iter().all(|n| n.starts_with("access-20300101T23")), "{closed:?}");
    assert!(live <= 11, "the live file stays near 1 KB: {live} lines");
    for name in &closed {
        let size = std::fs::metadata(t.path(&format!("logs/{name}"))).unwrap().len();
        assert!((1024..1300).contains(&size), "{name} is {size} bytes");
    }
    // A new day: the next line goes to a new file, the previous day's is closed.
    curl(&["-X", "POST", &gw.url("/openig/api/clock?advance=2h")]);
    eventually("yesterday's file is closed", || {
        assert_eq!(get(gw.port(), "/tomorrow").status, 200);
        logs(&t).0.iter().any(|n| n.starts_with("access-20300102T01"))
    });
    let (closed, _) = logs(&t);
    assert_eq!(closed.len(), 2, "{closed:?}");
    let live = std::fs::read_to_string(t.path("logs/access.log")).unwrap();
    assert!(live.lines().all(|l| l.starts_with("2030-01-02T")), "only today's lines: {live}");
    assert!(live.contains("GET /tomorrow"), "{live}");
}
