//! Argument parsing for complete control lines: splitting into tokens, counting them to decide
//! the optional fields, and checking sizes, exactly as nats-server's `processPub`,
//! `processHeaderPub`, `parseSub`, `processUnsub`, `processRemoteSub`, `processRemoteUnsub`,
//! `processRoutedMsgArgs` and `processRoutedHeaderMsgArgs` do.
//!
//! Every function gets the whole read buffer plus the `[start, end)` bounds of the arguments
//! (after the op name and its blanks, before CR LF) and returns an [`Op`] whose spans index the
//! same buffer. Nothing here allocates; tokens live in small fixed arrays on the stack.

use super::error::{ArgError, ProtocolError};
use super::{is_blank, Op, Span};

/// Like nats-server's separators: PUB and HPUB split on blanks only, every other op also on
/// CR and LF (`splitArg`). Only a stray CR can differ, as LF always ends the line.
#[inline(always)]
fn is_sep<const CR: bool>(b: u8) -> bool {
    is_blank(b) || (CR && (b == b'\r' || b == b'\n'))
}

/// The first `N` tokens of a line and how many tokens it has in total.
struct Tokens<const N: usize> {
    first: [Span; N],
    count: usize,
}

impl<const N: usize> Tokens<N> {
    #[inline(always)]
    fn get(&self, i: usize) -> Span {
        self.first[i]
    }
}

#[inline(always)]
fn tokenize<const N: usize, const CR: bool>(buf: &[u8], start: usize, end: usize) -> Tokens<N> {
    let mut t = Tokens {
        first: [Span::EMPTY; N],
        count: 0,
    };
    let line = &buf[start..end];
    let mut i = 0;
    while i < line.len() {
        if is_sep::<CR>(line[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < line.len() && !is_sep::<CR>(line[i]) {
            i += 1;
        }
        if t.count < N {
            t.first[t.count] = Span::new(start + s, start + i);
        }
        t.count += 1;
    }
    t
}

/// The last token of `buf[start..end]` (route ops' separators). The caller knows there is one.
fn last_token(buf: &[u8], start: usize, end: usize) -> Span {
    let mut e = end;
    while e > start && is_sep::<true>(buf[e - 1]) {
        e -= 1;
    }
    let mut s = e;
    while s > start && !is_sep::<true>(buf[s - 1]) {
        s -= 1;
    }
    Span::new(s, e)
}

/// nats-server's `parseSize`: 1 to 9 ASCII digits, nothing else.
#[inline]
pub(super) fn parse_size(d: &[u8]) -> Option<usize> {
    if d.is_empty() || d.len() > 9 {
        return None;
    }
    let mut n = 0usize;
    for &b in d {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (b - b'0') as usize;
    }
    Some(n)
}

/// Checks the announced size against `max_payload` and returns the payload span.
#[inline]
fn payload(at: usize, size: usize, max_payload: usize) -> Result<Span, ProtocolError> {
    if size > max_payload {
        return Err(ProtocolError::MaxPayload {
            size,
            limit: max_payload,
        });
    }
    Ok(Span::new(at, at + size))
}

/// `PUB <subject> [reply-to] <#bytes>`
#[inline]
pub(super) fn pub_op(
    buf: &[u8],
    start: usize,
    end: usize,
    at: usize,
    max_payload: usize,
) -> Result<Op, ProtocolError> {
    let t = tokenize::<3, false>(buf, start, end);
    let (reply, size) = match t.count {
        2 => (None, t.get(1)),
        3 => (Some(t.get(1)), t.get(2)),
        _ => return Err(ProtocolError::bad_args(ArgError::PubArgs, &buf[start..end])),
    };
    let Some(size) = parse_size(size.of(buf)) else {
        return Err(ProtocolError::bad_args(ArgError::PubSize, &buf[start..end]));
    };
    Ok(Op::Pub {
        subject: t.get(0),
        reply,
        header_len: None,
        payload: payload(at, size, max_payload)?,
    })
}

/// `HPUB <subject> [reply-to] <#hdr bytes> <#total bytes>`
pub(super) fn hpub_op(
    buf: &[u8],
    start: usize,
    end: usize,
    at: usize,
    max_payload: usize,
) -> Result<Op, ProtocolError> {
    let t = tokenize::<4, false>(buf, start, end);
    let (reply, hdr, size) = match t.count {
        3 => (None, t.get(1), t.get(2)),
        4 => (Some(t.get(1)), t.get(2), t.get(3)),
        _ => {
            return Err(ProtocolError::bad_args(
                ArgError::HpubArgs,
                &buf[start..end],
            ))
        }
    };
    let args = &buf[start..end];
    let Some(hdr) = parse_size(hdr.of(buf)) else {
        return Err(ProtocolError::bad_args(ArgError::HpubHeaderSize, args));
    };
    let Some(size) = parse_size(size.of(buf)) else {
        return Err(ProtocolError::bad_args(ArgError::HpubTotalSize, args));
    };
    if hdr > size {
        return Err(ProtocolError::bad_args(ArgError::HpubHeaderTooLarge, args));
    }
    Ok(Op::Pub {
        subject: t.get(0),
        reply,
        header_len: Some(hdr),
        payload: payload(at, size, max_payload)?,
    })
}

/// `SUB <subject> [queue group] <sid>`
pub(super) fn sub_op(buf: &[u8], start: usize, end: usize) -> Result<Op, ProtocolError> {
    let t = tokenize::<3, true>(buf, start, end);
    match t.count {
        2 => Ok(Op::Sub {
            subject: t.get(0),
            queue: None,
            sid: t.get(1),
        }),
        3 => Ok(Op::Sub {
            subject: t.get(0),
            queue: Some(t.get(1)),
            sid: t.get(2),
        }),
        _ => Err(ProtocolError::bad_args(ArgError::SubArgs, &buf[start..end])),
    }
}

/// `UNSUB <sid> [max_msgs]`; an unparsable max becomes `Some(0)` (remove now), as in
/// nats-server where `parseSize` returns -1 and the sub is removed at once.
pub(super) fn unsub_op(buf: &[u8], start: usize, end: usize) -> Result<Op, ProtocolError> {
    let t = tokenize::<2, true>(buf, start, end);
    match t.count {
        1 => Ok(Op::Unsub {
            sid: t.get(0),
            max: None,
        }),
        2 => Ok(Op::Unsub {
            sid: t.get(0),
            max: Some(parse_size(t.get(1).of(buf)).unwrap_or(0) as u64),
        }),
        _ => Err(ProtocolError::bad_args(
            ArgError::UnsubArgs,
            &buf[start..end],
        )),
    }
}

/// `RS+ <account> <subject> [<queue> <weight>]`. An unparsable weight counts as 1 (nats-server
/// stores -1 and then treats the sub as a single member).
pub(super) fn rsub_op(buf: &[u8], start: usize, end: usize) -> Result<Op, ProtocolError> {
    let t = tokenize::<4, true>(buf, start, end);
    match t.count {
        2 => Ok(Op::RSub {
            account: t.get(0),
            subject: t.get(1),
            queue: None,
            weight: 0,
        }),
        4 => Ok(Op::RSub {
            account: t.get(0),
            subject: t.get(1),
            queue: Some(t.get(2)),
            weight: parse_size(t.get(3).of(buf)).map_or(1, |w| w as u32),
        }),
        _ => Err(ProtocolError::bad_args(
            ArgError::RsubArgs,
            &buf[start..end],
        )),
    }
}

/// `RS- <account> <subject> [<queue>]`
pub(super) fn runsub_op(buf: &[u8], start: usize, end: usize) -> Result<Op, ProtocolError> {
    let t = tokenize::<3, true>(buf, start, end);
    match t.count {
        2 | 3 => Ok(Op::RUnsub {
            account: t.get(0),
            subject: t.get(1),
            queue: (t.count == 3).then(|| t.get(2)),
        }),
        _ => Err(ProtocolError::bad_args(
            ArgError::RunsubArgs,
            &buf[start..end],
        )),
    }
}

/// `RMSG <account> <subject> [reply] <size>` and
/// `RMSG <account> <subject> (+ <reply> | '|') <queue>... <size>`, and the same for `HMSG` with
/// `<hdr> <total>` in place of `<size>`.
///
/// As in nats-server the token count decides: 3 (4 for HMSG) = no reply, one more = reply,
/// more than that = reply indicator then queues. So `RMSG $G foo | 5` has reply `|`.
pub(super) fn rmsg_op(
    buf: &[u8],
    start: usize,
    end: usize,
    at: usize,
    max_payload: usize,
    headers: bool,
) -> Result<Op, ProtocolError> {
    use ArgError::*;
    let (e_args, e_reply, e_hdr, e_size, e_hdr_big) = if headers {
        (
            HmsgArgs,
            HmsgReply,
            HmsgHeaderSize,
            HmsgSize,
            HmsgHeaderTooLarge,
        )
    } else {
        (RmsgArgs, RmsgReply, RmsgSize, RmsgSize, RmsgSize)
    };
    let args = &buf[start..end];
    let t = tokenize::<5, true>(buf, start, end);
    // Account, subject, then <size> or <hdr> <total>.
    let min = 3 + headers as usize;
    let (reply, queues, hdr, size) = if t.count < min {
        return Err(ProtocolError::bad_args(e_args, args));
    } else if t.count <= min + 1 {
        let reply = (t.count > min).then(|| t.get(2));
        (reply, None, t.get(t.count - 2), t.get(t.count - 1))
    } else {
        let ind = t.get(2).of(buf);
        let (reply, first_queue) = match ind {
            b"+" => (Some(t.get(3)), 4),
            b"|" => (None, 3),
            _ => return Err(ProtocolError::bad_args(e_reply, ind)),
        };
        let size = last_token(buf, start, end);
        let hdr = last_token(buf, start, size.start as usize);
        let sizes_start = if headers { hdr.start } else { size.start };
        // Queue names run from the first one to the token before the sizes.
        let queues = (t.count > first_queue + min - 2).then(|| {
            let last_queue = last_token(buf, start, sizes_start as usize);
            Span::new(t.get(first_queue).start as usize, last_queue.end as usize)
        });
        (reply, queues, hdr, size)
    };
    let header_len = if headers {
        let Some(hdr) = parse_size(hdr.of(buf)) else {
            return Err(ProtocolError::bad_args(e_hdr, args));
        };
        Some(hdr)
    } else {
        None
    };
    let Some(size) = parse_size(size.of(buf)) else {
        return Err(ProtocolError::bad_args(e_size, args));
    };
    if header_len.is_some_and(|h| h > size) {
        return Err(ProtocolError::bad_args(e_hdr_big, args));
    }
    Ok(Op::RMsg {
        account: t.get(0),
        subject: t.get(1),
        reply,
        queues,
        header_len,
        payload: payload(at, size, max_payload)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_size_accepts_one_to_nine_digits_only() {
        assert_eq!(parse_size(b"0"), Some(0));
        assert_eq!(parse_size(b"03"), Some(3));
        assert_eq!(parse_size(b"999999999"), Some(999_999_999));
        assert_eq!(parse_size(b"1000000000"), None);
        assert_eq!(parse_size(b""), None);
        assert_eq!(parse_size(b"+1"), None);
        assert_eq!(parse_size(b"-1"), None);
        assert_eq!(parse_size(b"1x"), None);
    }

    #[test]
    fn tokenize_counts_beyond_capacity() {
        let b = b"a  b\tc d e";
        let t = tokenize::<2, false>(b, 0, b.len());
        assert_eq!(t.count, 5);
        assert_eq!(t.get(0).of(b), b"a");
        assert_eq!(t.get(1).of(b), b"b");
    }

    #[test]
    fn cr_separates_only_for_split_arg_ops() {
        let b = b"a\rb";
        assert_eq!(tokenize::<2, false>(b, 0, 3).count, 1);
        assert_eq!(tokenize::<2, true>(b, 0, 3).count, 2);
    }

    #[test]
    fn last_token_skips_trailing_separators() {
        let b = b"x yy zzz \t";
        assert_eq!(last_token(b, 0, b.len()).of(b), b"zzz");
        assert_eq!(last_token(b, 0, 4).of(b), b"yy");
    }
}
