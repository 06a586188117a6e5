//! The bytes on the wire, read by a line-level client that undoes nothing: the dot lines of
//! real PEC messages go out stuffed, bare LF goes out as CRLF, and answers keep the order
//! of pipelined commands.

use crate::support::{ACCETTAZIONE, BUSTA_DOTS, BUSTA_LF, HOLDER, Provider};

/// The lines a message must be sent as: its lines (LF or CRLF ended), a "." doubled at
/// the start of each.
fn stuffed_lines(message: &[u8]) -> Vec<Vec<u8>> {
    let text = message.strip_suffix(b"\n").unwrap_or(message);
    text.split(|&b| b == b'\n')
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let mut sent = Vec::new();
            if line.starts_with(b".") {
                sent.push(b'.');
            }
            sent.extend_from_slice(line);
            sent
        })
        .collect()
}

#[tokio::test]
async fn dot_lines_of_real_messages_are_stuffed_and_bare_lf_becomes_crlf() {
    let p = Provider::new().await;
    let dots = p.deliver(HOLDER, BUSTA_DOTS).await;
    let lf = p.deliver(HOLDER, BUSTA_LF).await;
    let server = p.serve(p.config_implicit()).await;
    let mut c = p.login(&server, HOLDER).await;

    for (number, message) in [(1, &dots), (2, &lf)] {
        let status = c.command(&format!("RETR {number}")).await;
        assert_eq!(status, format!("+OK {} octets", message.len()));
        let sent = c.raw_body().await;
        let expected = stuffed_lines(message);
        assert!(
            expected.iter().any(|line| line.starts_with(b"..")),
            "fixture without dot lines"
        );
        assert_eq!(sent.len(), expected.len(), "message {number}: line count");
        assert!(sent == expected, "message {number} differs on the wire");
    }
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let p = Provider::new().await;
    let message = p.deliver(HOLDER, ACCETTAZIONE).await;
    let server = p.serve(p.config_implicit()).await;
    let mut c = p.login(&server, HOLDER).await;
    c.send(b"STAT\r\nLIST 1\r\nNOOP\r\nBOGUS\r\nTOP 1 0\r\nQUIT\r\n")
        .await;
    let size = message.len();
    assert_eq!(c.line().await.unwrap(), format!("+OK 1 {size}"));
    assert_eq!(c.line().await.unwrap(), format!("+OK 1 {size}"));
    assert_eq!(c.line().await.unwrap(), "+OK");
    assert_eq!(c.line().await.unwrap(), "-ERR unknown command");
    assert_eq!(c.line().await.unwrap(), "+OK top of message follows");
    let headers = c.body().await;
    assert_eq!(headers.last().map(String::as_str), Some(""));
    assert!(c.line().await.unwrap().starts_with("+OK"));
    assert!(c.closed().await);
}
