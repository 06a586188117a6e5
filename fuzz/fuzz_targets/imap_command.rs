//! The IMAP server cuts client bytes into commands with its framer, then decodes each with
//! imap-codec: any bytes, cut into reads of any size, must give no panic, and no frame may
//! break the framer's limits.
#![no_main]

use imap::framing::{Frame, Framer};
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use libfuzzer_sys::fuzz_target;

const MAX_LINE: usize = 64;
const MAX_LITERAL: u64 = 256;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses how the rest arrives: in reads of 1 to 256 bytes.
    let Some((&read, input)) = data.split_first() else {
        return;
    };
    let mut framer = Framer::new(MAX_LINE, MAX_LITERAL);
    for chunk in input.chunks(usize::from(read) + 1) {
        framer.push(chunk);
        while let Some(frame) = framer.next_frame() {
            if let Frame::Command(command) = frame {
                // Every line within the limit, the literals within the budget: a command
                // holds at most one line per literal, plus one.
                let lines = command.split(|&b| b == b'\n').count();
                assert!(command.len() <= lines * (MAX_LINE + 2) + MAX_LITERAL as usize);
                let _ = CommandCodec::new().decode(&command);
            }
        }
        while framer.next_line().is_some() {}
    }
});
