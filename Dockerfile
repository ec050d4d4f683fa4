# syntax=docker/dockerfile:1
#
# trawl as one image for every role: a statically linked binary, the CA
# certificates its engines and crawler verify TLS with, and nothing else
# (no shell, no package manager, no libc to patch). The demo corpus is
# inside the binary; its provenance and licences are in
# /usr/share/doc/trawl. docs/deploy.md explains the layouts.
#
#   docker build -t trawl .
#   docker run --read-only -p 8080:8080 -v trawl-data:/var/lib/trawl \
#       --tmpfs /tmp trawl                       # one binary, demo corpus
#   docker run ... trawl serve --role search     # one role
#
# The same recipe builds the binary CI runs in an empty root
# (scripts/build-static.sh, scripts/image-root.sh; scripts/check-deploy.sh image
# runs it chrooted into that layout, read-only, as 65532).

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
# ca-certificates: the bundle copied into the image; binutils: objcopy.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates binutils file \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Named in trawl_build_info; .git is not sent to the build.
ARG TRAWL_COMMIT=unknown
ENV TRAWL_COMMIT=${TRAWL_COMMIT}
# `image` (the default): optimised for size, within the 25 MB budget;
# `release` is about a quarter faster and 39 MB (docs/BENCHMARKS.md, "The
# image and the scale-out rehearsal").
ARG PROFILE=image
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    bash scripts/build-static.sh --profile "${PROFILE}" --out /trawl
# The whole image, laid out by the script the empty-root test uses too: the
# binary, the CA bundle, /var/lib/trawl (owned by 65532) and /tmp.
RUN bash scripts/image-root.sh /out /trawl \
    && size=$(du -sb /out | cut -f1) \
    && echo "image content: ${size} bytes" \
    && if [ "${PROFILE}" = image ] && [ "${size}" -gt 25000000 ]; then \
         echo "the image holds more than 25 MB" >&2; exit 1; fi

FROM scratch
ARG TRAWL_VERSION=0.1.0
ARG TRAWL_COMMIT=unknown
ARG CREATED=1970-01-01T00:00:00Z
# Where the sources are published; set by the release pipeline.
ARG SOURCE=""
LABEL org.opencontainers.image.title="trawl" \
      org.opencontainers.image.description="Self-hostable search portal: web form and JSON API over a local full-text index and upstream search APIs" \
      org.opencontainers.image.version="${TRAWL_VERSION}" \
      org.opencontainers.image.revision="${TRAWL_COMMIT}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.documentation="docs/deploy.md in the sources"
COPY --from=build /out/ /
# 65532: no name needed, no /etc/passwd; the same UID as distroless's
# "nonroot", so volumes prepared for one work for the other.
USER 65532:65532
ENV TRAWL_LISTEN=0.0.0.0:8080 \
    TRAWL_DATA_DIR=/var/lib/trawl \
    TRAWL_LOG_FORMAT=json \
    TMPDIR=/tmp \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
VOLUME ["/var/lib/trawl", "/tmp"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/trawl", "probe"]
ENTRYPOINT ["/usr/local/bin/trawl"]
CMD ["serve"]
