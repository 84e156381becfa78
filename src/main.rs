//! The `nats-server` binary: everything lives in the library
//! (`nats_server::launch`), so that this stays one line.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(nats_server::launch::main(args));
}
