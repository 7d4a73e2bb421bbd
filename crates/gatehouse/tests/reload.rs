//! Routes reload while the gateway runs and serves: add, change, break, fix, remove.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::{eventually, get, request, Gateway, TempInstance};

fn route(path: &str, entity: &str) -> String {
    format!(
        r#"{{ "condition": "${{request.uri.path == '{path}'}}",
             "handler": {{ "type": "StaticResponseHandler", "config": {{ "status": 200, "entity": "{entity}" }} }} }}"#
    )
}

#[test]
fn routes_reload_under_load_without_a_failed_request() {
    let t = TempInstance::new();
    t.route("stable.json", &route("/stable", "stable"));
    t.route("changing.json", &route("/changing", "v1"));
    let gw = Gateway::start_with(&t.dir, &[("IG_ROUTER_SCAN_INTERVAL", "100 ms")]);
    let port = gw.port();

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (stop, done, failures) = (stop.clone(), done.clone(), failures.clone());
            std::thread::spawn(move || {
                // Bounded: at most 200k requests even if the main thread never stops us.
                for i in 0..200_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let path = if i % 2 == 0 { "/stable" } else { "/changing" };
                    match request(port, "GET", path, &[], "") {
                        Ok(r) if r.status == 200 && ["stable", "v1", "v2", "v3"].contains(&r.body.as_str()) => {}
                        Ok(r) => failures.lock().unwrap().push(format!("{path}: {} {:?}", r.status, r.body)),
                        Err(e) => failures.lock().unwrap().push(format!("{path}: {e}")),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    t.route("added.json", &route("/added", "added"));
    eventually("the added route serves", || get(port, "/added").body == "added");

    t.route("changing.json", &route("/changing", "v2"));
    eventually("the changed route serves v2", || get(port, "/changing").body == "v2");

    t.route(
        "changing.json",
        "{\n  \"handler\": {\n    \"type\": \"StaticResponseHandler\",\n    \"config\": { \"status\": 200 \n}",
    );
    gw.wait_for_log("changing.json:5:2:");
    gw.wait_for_log("keeping the previous version of the route");
    assert_eq!(get(port, "/changing").body, "v2", "a broken file keeps its previous version serving");

    t.route("changing.json", &route("/changing", "v3"));
    eventually("the fixed route serves v3", || get(port, "/changing").body == "v3");

    t.remove("config/routes/added.json");
    eventually("the removed route is gone", || get(port, "/added").status == 404);

    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "{} failed requests, first: {:?}", failures.len(), failures.first());
    assert!(done.load(Ordering::Relaxed) > 50, "the load ran: {}", done.load(Ordering::Relaxed));
}

#[test]
fn a_route_name_used_twice_is_rejected_naming_both_files() {
    let t = TempInstance::new();
    t.route("one.json", r#"{ "name": "same", "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "one" } } }"#);
    t.route("two.json", r#"{ "name": "same", "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "two" } } }"#);
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/").body, "one");
    gw.wait_for_log("route name 'same' is already used by");
    let logs = gw.logs();
    assert!(logs.contains("two.json") && logs.contains("one.json"), "{logs}");
}

#[test]
fn a_missing_routes_directory_is_empty_and_can_appear_later() {
    let t = TempInstance::new();
    std::fs::remove_dir(t.path("config/routes")).unwrap();
    let gw = Gateway::start_with(&t.dir, &[("IG_ROUTER_SCAN_INTERVAL", "100 ms")]);
    assert_eq!(get(gw.port(), "/late").status, 404);
    t.route("late.json", &route("/late", "late"));
    eventually("a route in a new directory serves", || get(gw.port(), "/late").body == "late");
}

#[test]
fn a_changed_route_is_live_at_once_through_file_notifications() {
    let t = TempInstance::new();
    t.route("page.json", &route("/page", "v1"));
    // The fallback scan is an hour away: only a file notification can reload in time.
    let gw = Gateway::start_with(&t.dir, &[("IG_ROUTER_SCAN_INTERVAL", "1 hour")]);
    assert_eq!(get(gw.port(), "/page").body, "v1");
    let reloads = || gw.logs().matches("route reloaded").count();

    for (i, version) in ["v2", "v3", "v4"].iter().enumerate() {
        let started = std::time::Instant::now();
        t.route("page.json", &route("/page", version));
        eventually("the changed route serves", || get(gw.port(), "/page").body == *version);
        eprintln!("{version} live after {:?}", started.elapsed());
        assert_eq!(reloads(), i + 1, "one save, one reload:\n{}", gw.logs());
    }

    // An editor's save: write a temporary file, then rename it over the route; one reload.
    let path = t.path("config/routes/page.json");
    let tmp = t.path("config/routes/.page.json.swp");
    std::fs::write(&tmp, route("/page", "v5")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    eventually("the saved route serves", || get(gw.port(), "/page").body == "v5");
    assert_eq!(reloads(), 4, "{}", gw.logs());

    // Same length, written in place twice in a row: the second version is not missed.
    std::fs::write(&path, route("/page", "v6")).unwrap();
    std::fs::write(&path, route("/page", "v7")).unwrap();
    eventually("the last write serves", || get(gw.port(), "/page").body == "v7");

    t.route("new.json", &route("/new", "new"));
    eventually("an added route serves", || get(gw.port(), "/new").body == "new");
    t.remove("config/routes/new.json");
    eventually("a removed route is gone", || get(gw.port(), "/new").status == 404);
}
