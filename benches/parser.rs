//! Parser throughput in MB/s of wire bytes, on streams of one op repeated (~1 MiB per stream).
//!
//! `whole/*` parses a stream that is already in memory (the parser alone); `reads_4k/*` copies it
//! into a `BytesMut` in 4 KiB reads and consumes frames as a connection does, so ops cut by a
//! read boundary are resumed. `memchr_newlines` is the floor: only finding every `\n` of the
//! 16-byte PUB stream, no parsing at all.

use std::hint::black_box;

use bytes::{Buf, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nats_server::parser::{Limits, Parser, Role};

const STREAM_BYTES: usize = 1 << 20;

/// `op` repeated to about `STREAM_BYTES`.
fn stream(op: &[u8]) -> Vec<u8> {
    let n = STREAM_BYTES.div_ceil(op.len());
    op.repeat(n)
}

fn pub_op(size: usize) -> Vec<u8> {
    let mut op = format!("PUB foo.bar.baz {size}\r\n").into_bytes();
    op.extend(std::iter::repeat_n(b'x', size));
    op.extend_from_slice(b"\r\n");
    op
}

fn hpub_op(size: usize) -> Vec<u8> {
    let hdr = b"NATS/1.0\r\nNats-Msg-Id: 1234\r\n\r\n";
    let mut op = format!(
        "HPUB foo.bar.baz _INBOX.abc {} {}\r\n",
        hdr.len(),
        hdr.len() + size
    )
    .into_bytes();
    op.extend_from_slice(hdr);
    op.extend(std::iter::repeat_n(b'x', size));
    op.extend_from_slice(b"\r\n");
    op
}

fn rmsg_op(size: usize) -> Vec<u8> {
    let mut op = format!("RMSG $G foo.bar.baz + _INBOX.abc q1 q2 {size}\r\n").into_bytes();
    op.extend(std::iter::repeat_n(b'x', size));
    op.extend_from_slice(b"\r\n");
    op
}

/// Parses a complete in-memory stream; returns the number of ops.
fn parse_whole(role: Role, buf: &[u8]) -> usize {
    let mut parser = Parser::new(role, Limits::default());
    let (mut at, mut ops) = (0, 0);
    while let Some(frame) = parser.next(&buf[at..]).expect("valid stream") {
        black_box(&frame);
        at += frame.len;
        ops += 1;
    }
    assert_eq!(at, buf.len());
    ops
}

/// Feeds the stream in 4 KiB reads through a `BytesMut`, like a connection's read loop.
fn parse_reads(role: Role, stream: &[u8], rbuf: &mut BytesMut) -> usize {
    let mut parser = Parser::new(role, Limits::default());
    let mut ops = 0;
    rbuf.clear();
    for read in stream.chunks(4096) {
        rbuf.extend_from_slice(read);
        while let Some(frame) = parser.next(rbuf).expect("valid stream") {
            black_box(&frame);
            rbuf.advance(frame.len);
            ops += 1;
        }
    }
    ops
}

fn bench_parser(c: &mut Criterion) {
    let cases: [(&str, Role, Vec<u8>); 6] = [
        ("pub_16b", Role::Client, pub_op(16)),
        ("pub_1k", Role::Client, pub_op(1024)),
        ("hpub_16b", Role::Client, hpub_op(16)),
        ("hpub_1k", Role::Client, hpub_op(1024)),
        ("rmsg_16b_queues", Role::Route, rmsg_op(16)),
        ("rmsg_1k_queues", Role::Route, rmsg_op(1024)),
    ];
    let mut group = c.benchmark_group("parser");
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    for (name, role, op) in &cases {
        let s = stream(op);
        group.throughput(Throughput::Bytes(s.len() as u64));
        group.bench_with_input(BenchmarkId::new("whole", name), &s, |b, s| {
            b.iter(|| parse_whole(*role, s))
        });
        group.bench_with_input(BenchmarkId::new("reads_4k", name), &s, |b, s| {
            b.iter(|| parse_reads(*role, s, &mut rbuf))
        });
    }
    let s = stream(&pub_op(16));
    group.throughput(Throughput::Bytes(s.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("memchr_newlines", "pub_16b"),
        &s,
        |b, s| b.iter(|| memchr::memchr_iter(b'\n', s).count()),
    );
    group.finish();
}

criterion_group!(benches, bench_parser);
criterion_main!(benches);
