//! `pecora bench` end to end on a small run: the figures must be coherent, not fast (this
//! is a debug binary on a shared machine; the real figures come from release runs).

use std::process::Command;

use serde_json::Value;

const PECORA: &str = env!("CARGO_BIN_EXE_pecora");

fn number(report: &Value, field: &str) -> f64 {
    report[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} missing or not a number in {report}"))
}

#[test]
fn small_run_delivers_every_message_and_reports_coherent_figures() {
    let output = Command::new(PECORA)
        .args([
            "bench",
            "--messages",
            "20",
            "--size",
            "2000",
            "--recipients",
            "2",
            "--concurrency",
            "4",
            "--json",
        ])
        .output()
        .expect("run pecora bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "pecora bench failed:\n{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON");

    for (field, expected) in [
        ("messages", 20.0),
        ("size", 2000.0),
        ("recipients", 2.0),
        ("concurrency", 4.0),
        ("accepted", 20.0),
        ("not_accepted", 0.0),
        ("delivered", 20.0),
        // accettazione and busta at the sender's gestore; presa in carico and two
        // consegne at the recipients'.
        ("signatures_per_message", 5.0),
    ] {
        assert_eq!(number(&report, field), expected, "{field} in {report}");
    }
    assert!(report["offered_rate"].is_null(), "closed loop: {report}");
    assert!(report["first_problem"].is_null(), "{report}");

    for field in [
        "submit_seconds",
        "total_seconds",
        "accepted_per_s",
        "delivered_per_s",
        "accettazione_p50_ms",
        "accettazione_p99_ms",
        "consegna_p50_ms",
        "consegna_p99_ms",
        "consegna_poll_ms",
        "peak_rss_mb",
        "rsa_sign_per_s",
        "rsa_sign_threads",
        "crypto_bound_per_s",
        "fraction_of_crypto_bound",
        "load_average",
    ] {
        assert!(number(&report, field) > 0.0, "{field} positive in {report}");
    }
    let p = |f| number(&report, f);
    assert!(p("accettazione_p50_ms") <= p("accettazione_p99_ms"));
    assert!(p("consegna_p50_ms") <= p("consegna_p99_ms"));
    assert!(
        p("accettazione_p50_ms") < p("consegna_p50_ms"),
        "the consegna comes after the accettazione: {report}"
    );
    assert!(p("submit_seconds") <= p("total_seconds"));
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    assert!(close(p("accepted_per_s"), 20.0 / p("submit_seconds")));
    assert!(close(p("delivered_per_s"), 20.0 / p("total_seconds")));
    assert!(close(p("crypto_bound_per_s"), p("rsa_sign_per_s") / 5.0));
    assert!(close(
        p("fraction_of_crypto_bound"),
        p("delivered_per_s") / p("crypto_bound_per_s")
    ));
}
