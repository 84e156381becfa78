fn main() {
    println!("nats-server (rust): under construction");
}
