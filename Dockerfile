# The nats-server Docker image: `docker build -t nats .` then `docker run nats`.
#
# Stage 1 builds a static (musl) binary with the official Rust image; the final
# stage is `FROM scratch` and holds only the server, its default configuration
# and the CA certificates TLS needs. ENTRYPOINT carries `-c /nats-server.conf`,
# so `docker run nats --routes=…` appends flags and keeps the configuration
# (gnatsd 0.6.8's image layout; the 2.x image's CMD drops it, nats-docker#36).
#
# Machines that cannot pull images build the same final stage from a binary
# compiled on the host: scripts/docker-image (it reuses the stage below).

ARG RUST_VERSION=1
FROM rust:${RUST_VERSION}-alpine AS build
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY . .
# An explicit --target keeps crt-static off build scripts and proc-macros.
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
 && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --locked --profile dist --target "$target" --bin nats-server \
 && mkdir -p /rootfs/etc/ssl/certs \
 && cp "target/$target/dist/nats-server" /rootfs/nats-server \
 && cp docker/nats-server.conf /rootfs/nats-server.conf \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt

# The final stage (scripts/docker-image builds this same text with rootfs/
# assembled on the host: keep `COPY --from=build /rootfs/ /` on one line).
FROM scratch
COPY --from=build /rootfs/ /
EXPOSE 4222 8222 6222
ENTRYPOINT ["/nats-server", "-c", "/nats-server.conf"]
CMD []
