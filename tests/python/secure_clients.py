"""nats-py against our server over TLS: user/password, token and nkey.

Usage: secure_clients.py URL CA_FILE MODE GOOD BAD [NKEY_SEED_FILE]
Connects with the good credentials (publish/subscribe round trip over TLS),
then checks that the bad ones are refused. Exit status 0 only if both hold.
"""

import asyncio
import ssl
import sys

import nats
from nats.errors import Error as NatsError


async def attempt(url, ctx, mode, cred):
    kwargs = {"tls": ctx, "allow_reconnect": False, "connect_timeout": 3, "max_reconnect_attempts": 0}
    if mode == "user":
        user, password = cred.split(":", 1)
        kwargs.update(user=user, password=password)
    elif mode == "token":
        kwargs.update(token=cred)
    elif mode == "nkey":
        kwargs.update(nkeys_seed_str=cred)
    errors = []

    async def on_error(e):
        errors.append(e)

    nc = await nats.connect(url, error_cb=on_error, **kwargs)
    got = asyncio.Future()

    async def cb(msg):
        if not got.done():
            got.set_result(msg.data)

    await nc.subscribe("py.secure", cb=cb)
    await nc.publish("py.secure", b"hello over tls")
    await nc.flush()
    data = await asyncio.wait_for(got, 3)
    await nc.close()
    return data


async def main():
    url, ca, mode, good, bad = sys.argv[1:6]
    ctx = ssl.create_default_context(cafile=ca)
    data = await attempt(url, ctx, mode, good)
    assert data == b"hello over tls", data
    try:
        await attempt(url, ctx, mode, bad)
    except (NatsError, OSError, asyncio.TimeoutError, ssl.SSLError) as e:
        print(f"refused as expected: {type(e).__name__}")
    else:
        raise SystemExit("bad credentials were accepted")
    print(f"{mode}: ok")


asyncio.run(main())
