//! Free loopback ports for servers started as child processes. Owns port
//! picking only; a port is free when picked, not necessarily later (the
//! starters retry).

/// A port on 127.0.0.1 free at the time of the call.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}
