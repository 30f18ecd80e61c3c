# fnctl's container image: `docker run ghcr.io/<owner>/fnctl plan`.
#
# Stage `build` runs on the build machine's own platform and cross-compiles
# for the image's (TARGETARCH) with cargo-zigbuild, the way the release
# workflow builds its Linux binaries: no emulated compiler, so an arm64 image
# builds as fast as an amd64 one. The final image is Debian slim (a shell,
# for GitLab jobs and `kubectl exec`; CA certificates for AWS and Segment),
# running as the non-root user 65532 in /work.
#
#   docker build --build-arg FNCTL_COMMIT="$(git rev-parse HEAD)" -t fnctl .
#
# FNCTL_COMMIT names the commit `fnctl --version` prints: the build context
# leaves out .git (.dockerignore).

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-slim-${DEBIAN} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The toolchain's Python, for the zig and cargo-zigbuild wheels (pinned
# below); Debian's package versions move with its security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/zig \
    && /opt/zig/bin/pip install --no-cache-dir cargo-zigbuild==0.24.1 ziglang==0.17.1
ENV PATH=/opt/zig/bin:$PATH
ARG TARGETARCH
RUN case "$TARGETARCH" in \
        amd64) echo x86_64-unknown-linux-gnu ;; \
        arm64) echo aarch64-unknown-linux-gnu ;; \
        *) echo "no fnctl build for $TARGETARCH" >&2; exit 1 ;; \
    esac > /target \
    && rustup target add "$(cat /target)"
WORKDIR /src
COPY . .
ARG FNCTL_COMMIT=""
RUN cargo zigbuild --release --locked --target "$(cat /target).2.17" \
    && cp "target/$(cat /target)/release/fnctl" /fnctl

FROM debian:${DEBIAN}-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 fnctl \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /work --shell /usr/sbin/nologin fnctl \
    && install -d -o 65532 -g 65532 /work
COPY --from=build /fnctl /usr/local/bin/fnctl
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["fnctl"]
CMD ["--help"]
