//! Feeds arbitrary bytes, cut into arbitrary chunks, to a client and a route parser.
//!
//! Checks: no panic; every frame lies inside the buffer and every span inside its frame; and
//! the cut does not matter: the chunked run yields the same frames (spans are relative to the
//! frame start, so they compare directly) and the same kind of error as the run fed whole.
//!
//! Input layout: byte 0 picks the limits, bytes 1..5 seed the chunk sizes, the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nats_server::parser::{Frame, Limits, Parser, ProtocolError, Role};

/// The outcome that must not depend on the cut: frames, then the error kind and, for an unknown
/// op, its parser state and offset.
type Outcome = (
    Vec<Frame>,
    Option<(std::mem::Discriminant<ProtocolError>, Option<(u8, usize)>)>,
);

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let (ctl, stream) = data.split_at(5);
    let limits = Limits {
        max_control_line: 8 + (ctl[0] & 0x0f) as usize * 16,
        max_payload: (ctl[0] >> 4) as usize * 64,
    };
    let seed = u32::from_le_bytes([ctl[1], ctl[2], ctl[3], ctl[4]]) | 1;
    for role in [Role::Client, Role::Route] {
        let whole = run(role, limits, stream, &mut std::iter::once(stream.len()));
        let mut rng = seed;
        let mut sizes = std::iter::from_fn(move || {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            // Mostly tiny chunks, sometimes large ones.
            Some(if rng & 3 == 0 {
                (rng >> 8) as usize % 512
            } else {
                (rng >> 8) as usize % 4
            })
        });
        let chunked = run(role, limits, stream, &mut sizes);
        assert_eq!(whole, chunked);
    }
});

fn run(
    role: Role,
    limits: Limits,
    stream: &[u8],
    sizes: &mut dyn Iterator<Item = usize>,
) -> Outcome {
    let mut parser = Parser::new(role, limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match parser.next(&buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len > 0 && frame.len <= buf.len(), "{frame:?}");
                    for s in frame.op.spans().chain([frame.line]) {
                        assert!(s.start <= s.end && s.end as usize <= frame.len, "{frame:?}");
                    }
                    if let Some(p) = frame.op.payload() {
                        assert_eq!(&buf[p.end as usize..frame.len], b"\r\n");
                    }
                    frames.push(frame);
                    buf.drain(..frame.len);
                }
                Ok(None) => break,
                Err(e) => {
                    // The error's texts must be producible without panicking.
                    let _ = (e.to_string(), e.err_text(), e.close_reason(), e.closes());
                    let at = match e {
                        ProtocolError::UnknownOp { state, offset, .. } => Some((state, offset)),
                        _ => None,
                    };
                    return (frames, Some((std::mem::discriminant(&e), at)));
                }
            }
        }
    }
    (frames, None)
}
