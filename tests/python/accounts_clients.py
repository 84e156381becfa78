"""nats-py against our server with accounts: each user in its own account.

Usage: accounts_clients.py URL
The server has accounts A (user a, exports stream news.> and service
svc.echo) and B (user b, imports news.> with prefix fromA and svc.echo as
echo) and C (user c). Exits non-zero with a message on the first failure.
"""

import asyncio
import sys

import nats


async def main(url: str) -> None:
    a = await nats.connect(url, user="a", password="pw")
    b = await nats.connect(url, user="b", password="pw")
    c = await nats.connect(url, user="c", password="pw")

    got_c, got_b = [], []

    async def on_c(m):
        got_c.append(m.data)

    async def on_b_foo(m):
        got_b.append(m.data)

    async def on_b_news(m):
        got_b.append(m.subject)

    await c.subscribe("foo", cb=on_c)
    await b.subscribe("foo", cb=on_b_foo)
    await b.subscribe("fromA.news.>", cb=on_b_news)

    async def echo(msg):
        await msg.respond(b"echo:" + msg.data)

    await a.subscribe("svc.echo", cb=echo)
    for conn in (a, b, c):
        await conn.flush()

    # Isolation: C's foo stays in C.
    await c.publish("foo", b"from-c")
    await a.publish("news.today", b"n")
    await c.flush()
    await a.flush()
    await asyncio.sleep(0.2)
    assert got_c == [b"from-c"], f"C got {got_c}"
    assert got_b == ["fromA.news.today"], f"B got {got_b}"

    # A request through B's service import, answered by A.
    reply = await b.request("echo", b"hi", timeout=2)
    assert reply.data == b"echo:hi", reply.data

    # No responders inside C (nobody serves echo there).
    try:
        await c.request("echo", b"x", timeout=2)
        raise AssertionError("C's request was answered")
    except nats.errors.NoRespondersError:
        pass

    for conn in (a, b, c):
        await conn.close()
    print("ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
