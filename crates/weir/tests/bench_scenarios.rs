//! `weir bench` end to end: every scenario against a real weir node and a
//! real redis-server, checking each scenario's invariant and that the
//! report's figures are consistent.

mod common;

use serde_json::Value;
use std::process::{Command, Output};

fn bench(url: &str, extra: &[&str]) -> (Output, Vec<Value>) {
    let json = tempfile::NamedTempFile::new().expect("temp file");
    let output = Command::new(common::weir_bin())
        .args(["bench", "--url", url, "--warmup", "0s", "--clients", "8", "--keys", "200"])
        .args(["--json", json.path().to_str().expect("path")])
        // A second of load unless the test sets its own length.
        .args(if extra.contains(&"--duration") || extra.contains(&"--requests") {
            &[][..]
        } else {
            &["--duration", "1s"][..]
        })
        .args(extra)
        .output()
        .expect("run weir bench");
    let reports = std::fs::read_to_string(json.path())
        .ok()
        .and_then(|t| serde_json::from_str::<Vec<Value>>(&t).ok())
        .unwrap_or_default();
    (output, reports)
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The scenario's invariant held and the figures agree with each other.
fn assert_consistent(report: &Value) {
    let f = |k: &str| report[k].as_f64().unwrap_or_else(|| panic!("{k} missing in {report}"));
    assert_eq!(report["invariant_ok"], Value::Bool(true), "invariant: {}", report["invariant"]);
    let n = f("requests");
    assert!(n > 0.0, "no requests completed: {report}");
    let (t, elapsed) = (f("throughput"), f("elapsed_s"));
    assert!((t * elapsed - n).abs() <= 1e-6 * n.max(1.0), "T × elapsed = {} but N = {n}", t * elapsed);
    assert!((f("l_ms") - 1000.0 / t).abs() < 1e-9 * f("l_ms").max(1.0), "L must be 1/T");
    let l = &report["latency"];
    let p: Vec<f64> = ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"]
        .iter()
        .map(|k| l[k].as_f64().expect("percentile"))
        .collect();
    assert!(p.windows(2).all(|w| w[0] <= w[1]), "percentiles must be monotonic: {p:?}");
}

#[test]
fn every_scenario_against_weir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    for (scenario, extra) in [
        ("likes", vec![]),
        ("likes", vec!["--pipeline", "16", "--dist", "uniform"]),
        ("trades", vec![]),
        ("orders", vec![]),
        ("leaderboard", vec![]),
        ("flash-sale", vec!["--stock", "100"]),
        ("custom", vec!["--command", "SET key:__rand_int__ __data__"]),
    ] {
        let mut args = vec!["--scenario", scenario];
        args.extend(extra);
        let (output, reports) = bench(&node.url(), &args);
        assert!(output.status.success(), "{scenario}: {}", text(&output));
        assert_eq!(reports.len(), 1);
        assert_consistent(&reports[0]);
        if scenario == "flash-sale" {
            assert_eq!(reports[0]["extra"]["flash_script"], 1.0, "weir has EVAL: the script variant runs");
        }
    }
}

#[test]
fn every_scenario_against_redis() {
    let redis = common::start_redis(&[]);
    for scenario in ["likes", "orders", "trades", "leaderboard", "flash-sale", "custom"] {
        let (output, reports) =
            bench(&redis.url(), &["--scenario", scenario, "--command", "INCR counter:__rand_int__", "--stock", "100"]);
        assert!(output.status.success(), "{scenario}: {}", text(&output));
        assert_consistent(&reports[0]);
    }
    let (output, reports) =
        bench(&redis.url(), &["--scenario", "flash-sale", "--flash-mode", "watch", "--stock", "50"]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(reports[0]["extra"]["flash_script"], 0.0);
    assert_consistent(&reports[0]);
}

/// `cmdstat_evalsha` calls from INFO commandstats (0 if absent).
fn evalsha_calls(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(conn).expect("INFO");
    let line = info.lines().find(|l| l.starts_with("cmdstat_evalsha:")).unwrap_or("");
    line.split(['=', ',']).nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn the_flash_sale_by_evalsha_loads_the_script_once_on_weir_and_redis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let redis = common::start_redis(&[]);
    for (url, mut conn) in [(node.url(), node.client()), (redis.url(), redis.client())] {
        let (output, reports) = bench(
            &url,
            &["--scenario", "flash-sale", "--flash-mode", "evalsha", "--stock", "100", "--requests", "3000"],
        );
        assert!(output.status.success(), "{url}: {}", text(&output));
        assert_consistent(&reports[0]);
        assert_eq!(reports[0]["extra"]["flash_script"], 1.0);
        assert_eq!(reports[0]["extra"]["flash_orders"], 100.0, "the stock sold out exactly");
        assert!(evalsha_calls(&mut conn) >= 3000, "{url}: purchases went by EVALSHA");
    }
}

#[test]
fn compare_mode_alternates_and_prints_ratios() {
    let redis = common::start_redis(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let html = tempfile::NamedTempFile::new().expect("temp file");
    let (output, reports) = bench(&redis.url(), &["--url", &node.url(), "--html", html.path().to_str().expect("path")]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(reports.len(), 6, "3 rounds against each server");
    let urls: Vec<&str> = reports.iter().map(|r| r["url"].as_str().expect("url")).collect();
    assert!(urls.windows(2).all(|w| w[0] != w[1]), "runs alternate A, B, A, B: {urls:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("B/A") && stdout.contains("T (req/s)"), "{stdout}");
    let page = std::fs::read_to_string(html.path()).expect("html written");
    // Self-contained: inline SVG, nothing fetched.
    assert!(page.contains("<svg"), "charts are inline SVG");
    for fetch in ["<script", "src=", "href=", "http://", "https://"] {
        assert!(!page.contains(fetch), "the report must not fetch anything ({fetch})");
    }
}

#[test]
fn bad_targets_fail_with_one_line() {
    let port = common::free_port();
    let (output, _) = bench(&format!("redis://127.0.0.1:{port}"), &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: cannot connect") && stderr.lines().count() == 1, "{stderr}");

    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--requirepass", "right"]);
    let (output, _) = bench(&format!("redis://:wrong@{}", node.addr), &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("authentication failed") && stderr.lines().count() == 1, "{stderr}");
    let (output, reports) = bench(&format!("redis://:right@{}", node.addr), &["--requests", "2000"]);
    assert!(output.status.success(), "{}", text(&output));
    assert_consistent(&reports[0]);
}

#[test]
fn open_loop_rate_and_csv() {
    let redis = common::start_redis(&[]);
    let csv = tempfile::NamedTempFile::new().expect("temp file");
    let (output, reports) =
        bench(&redis.url(), &["--rate", "2000", "--duration", "2s", "--csv", csv.path().to_str().expect("path")]);
    assert!(output.status.success(), "{}", text(&output));
    assert_consistent(&reports[0]);
    let t = reports[0]["throughput"].as_f64().expect("throughput");
    assert!((1500.0..2500.0).contains(&t), "open loop holds the arrival rate: {t}");
    assert_eq!(reports[0]["open_loop"], Value::Bool(true));
    let rows = std::fs::read_to_string(csv.path()).expect("csv written");
    assert_eq!(rows.lines().count(), 2, "header and one row: {rows}");
    assert!(rows.starts_with("scenario,url,clients,pipeline,requests"));
}
