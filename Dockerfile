# One image per service: the same build, a different SERVICE.
#
#   docker build --build-arg SERVICE=environment-registry -t ghcr.io/execenv/environment-registry:0.1.0 .
#
# SERVICE is one of environment-registry, config-sync, selector, launcher, gateway; the image runs
# the binary execenv-$SERVICE as the non-root user 65532 (the uid the Helm chart's securityContext
# expects). The runtime-components image the launcher injects into content Jobs is built from
# runtime/Dockerfile.

FROM rust:1.95-bookworm AS builder
ARG SERVICE
RUN test -n "$SERVICE" || { echo "set --build-arg SERVICE=<environment-registry|config-sync|selector|launcher|gateway>" >&2; exit 1; }
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p "execenv-$SERVICE" --bin "execenv-$SERVICE" \
 && install -D -m 0755 "target/release/execenv-$SERVICE" /out/usr/local/bin/execenv-service

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/ /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/execenv-service"]
