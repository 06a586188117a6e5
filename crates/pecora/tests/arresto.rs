//! Stopping a gestore the way systemd does (issue 12, finding 10): at SIGTERM `pecora serve`
//! stops accepting, lets a session in the middle of its DATA finish with its real answer, and
//! exits cleanly instead of cutting it.

#[path = "support/net.rs"]
mod net;

use net::*;

use std::process::Command;
use std::time::Duration;

/// Plain SMTP to the MX, paused half-way through DATA.
const HALF_DATA: &str = r#"
import json, socket, sys
port, rcpt = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=120)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        line = f.readline().decode()
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return "".join(lines)
reply()
for cmd in ["EHLO client.test", "MAIL FROM:<x@internet.test>", "RCPT TO:<%s>" % rcpt, "DATA"]:
    s.sendall(cmd.encode() + b"\r\n")
    reply()
s.sendall(("From: x@internet.test\r\nTo: %s\r\nSubject: in volo\r\n\r\nprima parte\r\n" % rcpt).encode())
print(json.dumps({"ready": True}), flush=True)
sys.stdin.readline()
s.sendall(b"seconda parte\r\n.\r\n")
print(json.dumps({"reply": reply()}), flush=True)
"#;

#[test]
fn sigterm_lets_the_session_under_way_finish_then_exits() {
    let mut net = Net::start_served();
    let (mario, _) = net.user(0, 0);
    let mx = net.port(0, "mx_port");
    let held = Held::start(["-c", HALF_DATA, &mx, &mario].map(String::from).to_vec());

    let pid = net.procs[0].child.id().to_string();
    let term = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(term.success());
    // The door closes to newcomers...
    wait_until(Duration::from_secs(30), "the MX to stop accepting", || {
        std::net::TcpStream::connect(format!("127.0.0.1:{mx}")).is_err()
    });
    // ...while the transaction under way still gets its real answer (the box refuses
    // ordinary mail: 550), not a cut connection.
    let done = held.go_on();
    let reply = done["reply"].as_str().unwrap();
    assert!(reply.starts_with("550"), "{done}");

    let status = net.procs[0].child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
