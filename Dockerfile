# syntax=docker/dockerfile:1
# Motcua's container image: `idp` (the provider), `idp-admin` (the admin CLI) and
# `portal-service` (the sample relying party, for compose.yaml's `sample` profile).
#   docker build -t motcua/idp .
# compose.yaml runs the production shape with it (README, "Operations").

# ---- build: the release binaries -------------------------------------------
FROM rust:1.95-bookworm AS build
# josekit signs through the system OpenSSL 3.
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The caches keep the registry and the build between image builds; the
# binaries are copied out because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p idp -p admin-cli -p portal-service \
    && mkdir -p /out \
    && cp target/release/idp target/release/idp-admin target/release/portal-service /out/

# ---- runtime: Debian slim, OpenSSL, CA roots, nothing else -----------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/*
# A fixed numeric id, so orchestrators can check runAsNonRoot and volumes can
# be chowned ahead of time.
RUN groupadd --system --gid 10001 motcua \
    && useradd --system --uid 10001 --gid motcua --home-dir /var/lib/motcua --shell /usr/sbin/nologin motcua \
    && mkdir -p /var/lib/motcua \
    && chown motcua:motcua /var/lib/motcua
COPY --from=build /out/idp /out/idp-admin /out/portal-service /usr/local/bin/
# Relative defaults (sqlite://data/motcua.db, keys/master.key) land here, so
# a single-node `docker run` with a volume on /var/lib/motcua keeps its state.
WORKDIR /var/lib/motcua
USER 10001:10001
# The public listener must be reachable from outside the container; the
# admin listener stays on loopback unless IDP_ADMIN_LISTEN says otherwise.
ENV IDP_LISTEN=0.0.0.0:8080 \
    IDP_LOG_FORMAT=json
# 8080: OIDC endpoints and pages. 8081: admin API and /metrics (private network only).
EXPOSE 8080 8081
# No curl in the image: `idp probe` asks this node's own /readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["idp", "probe"]
# SIGTERM (docker stop) drains requests in flight for IDP_SHUTDOWN_GRACE seconds.
STOPSIGNAL SIGTERM
ENTRYPOINT ["idp"]
CMD ["serve"]
