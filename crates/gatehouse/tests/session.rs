//! Sessions end to end: JwtSession cookies that Python's jwcrypto decrypts and makes, key
//! rotation with a keytool keystore, expiry, emptying, InMemorySession as the default, and a
//! JwtSession in config.json for every route.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use support::tls::sh;
use support::{curl, Gateway, TempInstance};

/// 64 bytes (A256CBC-HS512) and 32 bytes (A256GCM), base64.
const KEY64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
const KEY32: &str = "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8=";

fn jwcrypto(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwe_interop.py"))
        .args(args)
        .output()
        .expect("python3 with jwcrypto (scripts/test-deps.sh installs it)");
    assert!(out.status.success(), "jwcrypto {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Routes under `/{prefix}/`: `login` puts `user` (from the query) in the session,
/// `whoami` shows it, `logout` empties the session.
fn session_routes(inst: &TempInstance, prefix: &str, session: &str) {
    let route = |name: &str, filter: &str, entity: &str| {
        format!(
            r#"{{ "condition": "${{request.uri.path == '/{prefix}/{name}'}}", "session": {session},
               "handler": {{ "type": "Chain", "config": {{ "filters": [ {filter} ],
                 "handler": {{ "type": "StaticResponseHandler", "config": {{ "status": 200, "entity": "{entity}" }} }} }} }} }}"#
        )
    };
    let assign = |value: &str| {
        format!(
            r#"{{ "type": "AssignmentFilter", "config": {{ "onRequest": [ {{ "target": "${{session.user}}", "value": {value} }} ] }} }}"#
        )
    };
    inst.route(
        &format!("{prefix}-login.json"),
        &route("login", &assign(r#""${request.uri.query}""#), "hello ${session.user}"),
    );
    inst.route(&format!("{prefix}-whoami.json"), &route("whoami", "", "user=${session.user}"));
    inst.route(&format!("{prefix}-logout.json"), &route("logout", &assign("null"), "bye"));
}

fn jwt_session(enc: &str, store: &str) -> String {
    format!(
        r#"{{ "type": "JwtSession", "config": {{ "authenticatedEncryptionSecretId": "session.key", "encryptionMethod": "{enc}",
             "secretsProvider": {store} }} }}"#
    )
}

fn base64_store(key: &str) -> String {
    format!(r#"{{ "type": "Base64EncodedSecretStore", "config": {{ "secrets": {{ "session.key": "{key}" }} }} }}"#)
}

/// The `IG=...` pair of the response's Set-Cookie.
fn session_cookie(response: &str) -> String {
    let line = response
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie: {response}"));
    line.split(';').next().unwrap().to_string()
}

#[test]
fn jwcrypto_reads_our_cookies_and_we_read_its_tokens() {
    let inst = TempInstance::new();
    session_routes(&inst, "cbc", &jwt_session("A256CBC-HS512", &base64_store(KEY64)));
    session_routes(&inst, "gcm", &jwt_session("A256GCM", &base64_store(KEY32)));
    let g = Gateway::start(&inst.dir);

    for (prefix, key, enc) in [("cbc", KEY64, "A256CBC-HS512"), ("gcm", KEY32, "A256GCM")] {
        // Ours, opened by jwcrypto: the session map and its expiry.
        let login = curl(&["-i", &g.url(&format!("/{prefix}/login?alice"))]);
        assert!(login.ends_with("hello alice"), "{login}");
        let cookie = session_cookie(&login);
        let claims: serde_json::Value = serde_json::from_str(&jwcrypto(&["decrypt", key, &cookie[3..]])).unwrap();
        assert_eq!(claims["user"], "alice", "{claims}");
        let exp = claims["exp"].as_u64().unwrap();
        assert!(exp > now() + 1700 && exp <= now() + 1800, "30 minutes by default: {claims}");
        assert_eq!(curl(&["-b", &cookie, &g.url(&format!("/{prefix}/whoami"))]), "user=alice");

        // jwcrypto's, read by us.
        let theirs = jwcrypto(&["encrypt", key, enc, &format!(r#"{{"user":"bob","exp":{}}}"#, now() + 600)]);
        assert_eq!(curl(&["-b", &format!("IG={theirs}"), &g.url(&format!("/{prefix}/whoami"))]), "user=bob");
        // Expired, or under another key: no session, and the stale cookie is cleared.
        let expired = jwcrypto(&["encrypt", key, enc, &format!(r#"{{"user":"bob","exp":{}}}"#, now() - 60)]);
        let out = curl(&["-i", "-b", &format!("IG={expired}"), &g.url(&format!("/{prefix}/whoami"))]);
        assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("user="), "{out}");
        assert!(out.contains("set-cookie: IG=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"), "{out}");
        let other_key = if key == KEY64 { KEY32 } else { KEY64 };
        let other_enc = if key == KEY64 { "A256GCM" } else { "A256CBC-HS512" };
        let foreign = jwcrypto(&["encrypt", other_key, other_enc, r#"{"user":"eve","exp":99999999999}"#]);
        assert_eq!(curl(&["-b", &format!("IG={foreign}"), &g.url(&format!("/{prefix}/whoami"))]), "user=");

        // Emptying the session clears the cookie.
        let out = curl(&["-i", "-b", &cookie, &g.url(&format!("/{prefix}/logout"))]);
        assert!(out.contains("set-cookie: IG=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"), "{out}");
    }
    let metrics = curl(&[&g.url("/openig/metrics/prometheus")]);
    let rejected = metrics.lines().find_map(|l| l.strip_prefix("gatehouse_session_cookies_rejected_total ")).unwrap();
    assert!(rejected.parse::<u64>().unwrap() >= 4, "{metrics}");
}

#[test]
fn key_rotation_the_first_alias_encrypts_and_all_aliases_decrypt() {
    let inst = TempInstance::new();
    let secrets = inst.path("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    for alias in ["old-key", "new-key"] {
        sh(
            &secrets,
            &format!(
                "keytool -genseckey -alias {alias} -keystore keys.p12 -storepass password -storetype pkcs12 \
                 -keyalg HmacSHA512 -keysize 512"
            ),
        );
    }
    // `mapping`: the mapping's alias property, `aliases` or `aliasesMatching`.
    let store = |mapping: &str| {
        format!(
            r#"{{ "type": "KeyStoreSecretStore", "config": {{ "file": "{}/keys.p12", "storePasswordSecretId": "keystore.secret.id",
               "mappings": [ {{ "secretId": "session.key", {mapping} }} ] }} }}"#,
            secrets.display()
        )
    };
    session_routes(&inst, "before", &jwt_session("A256CBC-HS512", &store(r#""aliases": ["old-key"]"#)));
    session_routes(&inst, "after", &jwt_session("A256CBC-HS512", &store(r#""aliases": ["new-key", "old-key"]"#)));
    // Both keys by pattern; in alphabetical order new-key comes first and encrypts.
    session_routes(&inst, "matching", &jwt_session("A256CBC-HS512", &store(r#""aliasesMatching": ["(new|old)-key"]"#)));
    let g = Gateway::start_with(&inst.dir, &[("KEYSTORE_SECRET_ID", "cGFzc3dvcmQ=")]);

    let old_cookie = session_cookie(&curl(&["-i", &g.url("/before/login?carol")]));
    assert_eq!(curl(&["-b", &old_cookie, &g.url("/after/whoami")]), "user=carol", "old cookies stay valid");
    let new_cookie = session_cookie(&curl(&["-i", &g.url("/after/login?dave")]));
    assert_eq!(curl(&["-b", &new_cookie, &g.url("/after/whoami")]), "user=dave");
    assert_eq!(curl(&["-b", &new_cookie, &g.url("/before/whoami")]), "user=", "the new key encrypts");

    assert_eq!(curl(&["-b", &old_cookie, &g.url("/matching/whoami")]), "user=carol");
    let matched_cookie = session_cookie(&curl(&["-i", &g.url("/matching/login?erin")]));
    assert_eq!(curl(&["-b", &matched_cookie, &g.url("/after/whoami")]), "user=erin");
    assert_eq!(curl(&["-b", &matched_cookie, &g.url("/before/whoami")]), "user=");
}

#[test]
fn in_memory_session_is_the_default_and_stays_in_its_process() {
    let inst = TempInstance::new();
    session_routes(&inst, "mem", "null");
    let other = TempInstance::new();
    session_routes(&other, "mem", "null");
    // The routes above declare `"session": null`; remove it so the gateway's default applies.
    for t in [&inst, &other] {
        for name in ["login", "whoami", "logout"] {
            let path = t.path(&format!("config/routes/mem-{name}.json"));
            let text = std::fs::read_to_string(&path).unwrap().replace(r#""session": null,"#, "");
            std::fs::write(path, text).unwrap();
        }
    }
    let (g, g_other) = (Gateway::start(&inst.dir), Gateway::start(&other.dir));
    let login = curl(&["-i", &g.url("/mem/login?erin")]);
    let cookie = session_cookie(&login);
    assert!(cookie.starts_with("IG_SESSIONID="), "{login}");
    assert!(login.contains("; Path=/; HttpOnly"), "{login}");
    assert_eq!(curl(&["-b", &cookie, &g.url("/mem/whoami")]), "user=erin");
    assert!(!curl(&["-i", "-b", &cookie, &g.url("/mem/whoami")]).contains("set-cookie"), "reading writes nothing");
    assert_eq!(curl(&["-b", &cookie, &g_other.url("/mem/whoami")]), "user=", "another process has its own sessions");
    assert_eq!(curl(&["-b", "IG_SESSIONID=made-up", &g.url("/mem/whoami")]), "user=");
    let out = curl(&["-i", "-b", &cookie, &g.url("/mem/logout")]);
    assert!(out.contains("set-cookie: IG_SESSIONID=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"), "{out}");
    assert_eq!(curl(&["-b", &cookie, &g.url("/mem/whoami")]), "user=");
}

#[test]
fn a_config_json_jwt_session_serves_every_route_and_persistent_cookies_carry_max_age() {
    let inst = TempInstance::new();
    inst.write(
        "config/config.json",
        &format!(
            r#"{{ "heap": [ {{ "name": "Keys", "type": "Base64EncodedSecretStore", "config": {{ "secrets": {{ "session.key": "{KEY32}" }} }} }} ],
               "session": {{ "type": "JwtSession", "config": {{ "authenticatedEncryptionSecretId": "session.key", "secretsProvider": "Keys",
                 "sessionTimeout": "2 hours", "persistentCookie": true, "useCompression": true,
                 "cookie": {{ "name": "gh", "secure": true, "sameSite": "lax" }} }} }},
               "handler": {{ "type": "Router" }} }}"#
        ),
    );
    for name in ["login", "whoami", "plain"] {
        let (filter, entity) = match name {
            "login" => (
                r#"{ "type": "AssignmentFilter", "config": { "onRequest": [ { "target": "${session.user}", "value": "frank" } ] } }"#,
                "in",
            ),
            "whoami" => ("", "user=${session.user}"),
            _ => ("", "static"),
        };
        inst.route(
            &format!("{name}.json"),
            &format!(
                r#"{{ "condition": "${{request.uri.path == '/{name}'}}", "handler": {{ "type": "Chain", "config": {{ "filters": [ {filter} ],
                   "handler": {{ "type": "StaticResponseHandler", "config": {{ "status": 200, "entity": "{entity}" }} }} }} }} }}"#
            ),
        );
    }
    let g = Gateway::start(&inst.dir);
    let login = curl(&["-i", &g.url("/login")]);
    let line = login.lines().find(|l| l.starts_with("set-cookie: gh=")).unwrap_or_else(|| panic!("{login}"));
    assert!(line.trim_end().ends_with("; Path=/; Max-Age=7200; Secure; HttpOnly; SameSite=Lax"), "{line}");
    let cookie = session_cookie(&login);
    let claims = jwcrypto(&["decrypt", KEY32, &cookie[3..]]);
    assert!(claims.contains(r#""user":"frank""#), "jwcrypto inflates zip DEF too: {claims}");
    assert_eq!(curl(&["-b", &cookie, &g.url("/whoami")]), "user=frank");

    // A route that never reads the session does not decrypt it: a broken cookie there is
    // neither rejected nor cleared; the first route that reads it does both.
    let rejected = || {
        let metrics = curl(&[&g.url("/openig/metrics/prometheus")]);
        metrics.lines().find_map(|l| l.strip_prefix("gatehouse_session_cookies_rejected_total ").map(str::to_string))
    };
    let before = rejected();
    let plain = curl(&["-i", "-b", "gh=broken", &g.url("/plain")]);
    assert!(plain.starts_with("HTTP/1.1 200") && !plain.contains("set-cookie"), "{plain}\n{}", g.logs());
    assert_eq!(rejected(), before);
    let read = curl(&["-i", "-b", "gh=broken", &g.url("/whoami")]);
    assert!(read.contains("set-cookie: gh=; Path=/; Max-Age=0"), "{read}");
    assert_ne!(rejected(), before);
}
