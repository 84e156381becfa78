//! A partition, for real: three of our servers, each in its own network
//! namespace on a bridge the test creates. One node's link is cut; the
//! other two keep serving; the link is restored and routes and interest
//! converge within a bound. Needs root and iproute2 (`ip netns`): ignored
//! otherwise, failed under CI (see `tests/support/mod.rs`). Everything created is removed, also on failure.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::{sleep, timeout, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The namespaces, veths and bridge of one test; torn down on drop.
struct Net {
    tag: String,
    subnet: u8,
    nodes: usize,
    servers: Vec<Child>,
}

impl Net {
    /// Builds a switch namespace holding a bridge (its own, empty firewall:
    /// the host's FORWARD policy, often DROP under Docker, never applies),
    /// one namespace per node wired to it, and an uplink from the test's
    /// namespace.
    fn create(nodes: usize) -> Option<Net> {
        let tag = format!("{}", std::process::id() % 100_000);
        let subnet = (std::process::id() % 200) as u8 + 20;
        let net = Net {
            tag,
            subnet,
            nodes,
            servers: Vec::new(),
        };
        let sw = net.switch();
        let (up, up_peer) = (net.uplink(), format!("{}p", net.uplink()));
        let cidr = format!("10.231.{}.254/24", net.subnet);
        let ok = ip(&["netns", "add", &sw])
            && ip(&[
                "netns", "exec", &sw, "ip", "link", "add", "br0", "type", "bridge",
            ])
            && ip(&["netns", "exec", &sw, "ip", "link", "set", "br0", "up"])
            && ip(&["link", "add", &up, "type", "veth", "peer", "name", &up_peer])
            && ip(&["link", "set", &up_peer, "netns", &sw])
            && ip(&[
                "netns", "exec", &sw, "ip", "link", "set", &up_peer, "master", "br0",
            ])
            && ip(&["netns", "exec", &sw, "ip", "link", "set", &up_peer, "up"])
            && ip(&["addr", "add", &cidr, "dev", &up])
            && ip(&["link", "set", &up, "up"]);
        if !ok {
            return None;
        }
        for i in 1..=nodes {
            let (ns, host, peer) = (net.ns(i), net.host_veth(i), net.peer_veth(i));
            let addr = format!("10.231.{}.{i}/24", net.subnet);
            let ok = ip(&["netns", "add", &ns])
                && ip(&["link", "add", &host, "type", "veth", "peer", "name", &peer])
                && ip(&["link", "set", &peer, "netns", &ns])
                && ip(&["link", "set", &host, "netns", &sw])
                && ip(&[
                    "netns", "exec", &sw, "ip", "link", "set", &host, "master", "br0",
                ])
                && ip(&["netns", "exec", &sw, "ip", "link", "set", &host, "up"])
                && ip(&[
                    "netns", "exec", &ns, "ip", "addr", "add", &addr, "dev", &peer,
                ])
                && ip(&["netns", "exec", &ns, "ip", "link", "set", &peer, "up"])
                && ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
            if !ok {
                return None;
            }
        }
        Some(net)
    }

    fn switch(&self) -> String {
        format!("nats{}sw", self.tag)
    }
    fn uplink(&self) -> String {
        format!("nu{}", self.tag)
    }
    fn ns(&self, i: usize) -> String {
        format!("nats{}n{i}", self.tag)
    }
    fn host_veth(&self, i: usize) -> String {
        format!("nh{}{i}", self.tag)
    }
    fn peer_veth(&self, i: usize) -> String {
        format!("np{}{i}", self.tag)
    }
    fn addr(&self, i: usize) -> String {
        format!("10.231.{}.{i}", self.subnet)
    }
    fn client(&self, i: usize) -> SocketAddr {
        format!("{}:4222", self.addr(i)).parse().unwrap()
    }

    /// Starts node `i` in its namespace, routing to node 1.
    fn start(&mut self, i: usize, conf: &std::path::Path) {
        let routes = format!("nats-route://{}:6222", self.addr(1));
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(i), BIN, "-c"])
            .arg(conf)
            .args(["--routes", &routes])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start server in namespace");
        self.servers.push(child);
    }

    /// Unplugs node `i` from the switch.
    fn cut(&self, i: usize) {
        assert!(ip(&[
            "netns",
            "exec",
            &self.switch(),
            "ip",
            "link",
            "set",
            &self.host_veth(i),
            "down"
        ]));
    }

    fn heal(&self, i: usize) {
        assert!(ip(&[
            "netns",
            "exec",
            &self.switch(),
            "ip",
            "link",
            "set",
            &self.host_veth(i),
            "up"
        ]));
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        for i in 1..=self.nodes {
            ip(&["netns", "del", &self.ns(i)]);
        }
        ip(&["netns", "del", &self.switch()]);
        ip(&["link", "del", &self.uplink()]);
    }
}

async fn connect(addr: SocketAddr) -> async_nats::Client {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Ok(c)) = timeout(
            Duration::from_secs(2),
            async_nats::connect(format!("nats://{addr}")),
        )
        .await
        {
            return c;
        }
        assert!(Instant::now() < deadline, "cannot reach {addr}");
        sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_netns,
    ignore = "needs root and network namespaces (`ip netns`)"
)]
async fn cut_node_the_rest_keep_serving_then_heal() {
    let test = "cut_node_the_rest_keep_serving_then_heal";
    support::need(support::Tool::Netns, test);
    let Some(mut net) = Net::create(3) else {
        support::tool_missing(support::Tool::Netns, test, "cannot create the namespaces");
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("node.conf");
    // Short pings so that a silent (cut) route is detected in seconds.
    std::fs::write(
        &conf,
        "port: 4222\nhttp_port: 8222\nping_interval: \"500ms\"\nping_max: 2\ncluster {\n  name: part\n  port: 6222\n}\n",
    )
    .unwrap();
    for i in 1..=3 {
        net.start(i, &conf);
    }
    let (c1, c2) = (connect(net.client(1)).await, connect(net.client(2)).await);
    let c3 = connect(net.client(3)).await;
    let mut on3 = c3.subscribe("part.3").await.unwrap();
    c3.flush().await.unwrap();
    let mut on2 = c2.subscribe("part.2").await.unwrap();
    c2.flush().await.unwrap();
    support::until_routed(&c1, &mut on3, "part.3", Duration::from_secs(20)).await;
    support::until_routed(&c3, &mut on2, "part.2", Duration::from_secs(20)).await;

    net.cut(3);
    // Node 1 and 2 keep serving each other.
    support::until_routed(&c1, &mut on2, "part.2", Duration::from_secs(10)).await;
    let mut on1 = c1.subscribe("part.1").await.unwrap();
    c1.flush().await.unwrap();
    support::until_routed(&c2, &mut on1, "part.1", Duration::from_secs(10)).await;
    // The routes to node 3 go stale (ping_interval 500ms x ping_max 2):
    // node 1's /routez then lists node 2 only.
    let deadline = Instant::now() + support::SETTLE;
    while num_routes(&net, 1).await != Some(1) {
        assert!(
            Instant::now() < deadline,
            "node 1 never dropped the cut node's route"
        );
        sleep(Duration::from_millis(200)).await;
    }

    net.heal(3);
    let healed = Instant::now();
    let c3b = connect(net.client(3)).await;
    let mut on3b = c3b.subscribe("part.3b").await.unwrap();
    c3b.flush().await.unwrap();
    support::until_routed(&c1, &mut on3b, "part.3b", Duration::from_secs(20)).await;
    support::until_routed(&c2, &mut on3b, "part.3b", Duration::from_secs(20)).await;
    support::until_routed(&c3b, &mut on1, "part.1", Duration::from_secs(20)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while num_routes(&net, 1).await != Some(2) || num_routes(&net, 3).await != Some(2) {
        assert!(
            Instant::now() < deadline,
            "routes did not converge after the heal"
        );
        sleep(Duration::from_millis(100)).await;
    }
    let converged = healed.elapsed();
    eprintln!("partition healed; routes and interest converged in {converged:?}");
    assert!(converged < Duration::from_secs(20));
}

/// `num_routes` from node `i`'s /routez, if it answers.
async fn num_routes(net: &Net, i: usize) -> Option<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr: SocketAddr = format!("{}:8222", net.addr(i)).parse().unwrap();
    let mut s = timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    s.write_all(b"GET /routez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut raw = Vec::new();
    timeout(Duration::from_secs(2), s.read_to_end(&mut raw))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let json: serde_json::Value = serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()?;
    json["num_routes"].as_u64()
}
