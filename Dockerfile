# One image per service: the same build, a different SERVICE.
#
#   docker build --build-arg SERVICE=environment-registry -t ghcr.io/execenv/environment-registry:0.1.0 .
#
# SERVICE is one of environment-registry, config-sync, selector, launcher, gateway, image-examiner; the image runs
# the binary execenv-$SERVICE as the non-root user 65532 (the uid the Helm chart's securityContext
# expects) and exposes the ports the service listens on by default. Every image also holds
# execenvctl, e.g. for the first administrator's key:
#   kubectl exec deploy/execenv-environment-registry -- execenvctl users create admin --role administrator It is the stage
# execenv-$SERVICE at the end of this file, whose EXPOSE line is the service's row in the one
# table of ports: e2e/infra/images reads it from here to build the same images without Docker,
# and e2e/tests/images.rs checks both against the services' documented defaults. The
# runtime-components image the launcher injects into content Jobs is built from runtime/Dockerfile.

# Without --build-arg SERVICE, the build stops in the builder, which names the services.
ARG SERVICE=none

# The web console (ui/), which the gateway embeds when it is compiled; built for every SERVICE
# so the build stays one recipe (the other services ignore it).
FROM node:20-bookworm AS ui
WORKDIR /src/ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/ ./
RUN npm run build

FROM rust:1.95-bookworm AS builder
ARG SERVICE
RUN case "$SERVICE" in environment-registry|config-sync|selector|launcher|gateway|image-examiner) ;; \
      *) echo "set --build-arg SERVICE=<environment-registry|config-sync|selector|launcher|gateway|image-examiner>, not '$SERVICE'" >&2; exit 1 ;; esac
WORKDIR /src
COPY . .
COPY --from=ui /src/ui/dist ui/dist
RUN cargo build --release --locked -p "execenv-$SERVICE" --bin "execenv-$SERVICE" -p execenvctl \
 && install -D -m 0755 "target/release/execenv-$SERVICE" /out/usr/local/bin/execenv-service \
 && install -D -m 0755 target/release/execenvctl /out/usr/local/bin/execenvctl

FROM gcr.io/distroless/cc-debian12:nonroot AS service
COPY --from=builder /out/ /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/execenv-service"]

# The ports of each service: its API (gRPC; the gateway's REST API), then its admin server
# (/metrics, /healthz, /readyz). Keep them equal to the defaults in docs/configuration.md.
FROM service AS execenv-environment-registry
EXPOSE 50051 9451

FROM service AS execenv-config-sync
EXPOSE 50052 9452

FROM service AS execenv-selector
EXPOSE 50053 9453

FROM service AS execenv-launcher
EXPOSE 50054 9454

FROM service AS execenv-gateway
EXPOSE 3939 9455

FROM service AS execenv-image-examiner
EXPOSE 50055 9456

# SERVICE left at its default: the builder's check above fails.
FROM builder AS execenv-none

FROM execenv-${SERVICE}
