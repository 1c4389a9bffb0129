# Pacer in a small image: built with the Swift toolchain, run without it.
#
#   docker build -t pacer .
#   docker run --rm -v pacer-data:/data pacer demo
#   docker run --rm -v pacer-data:/data -e PACER_DB=postgres://pacer@db:5432/pacer pacer run --drain
#
# The database defaults to /data/pacer.sqlite on a volume; secrets come in as environment variables or mounted
# files, named by the accounts (never baked into the image). docs/deploying.md has systemd and Kubernetes.

FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN swift build -c release --product pacer --static-swift-stdlib -Xlinker -s \
    && cp "$(swift build -c release --show-bin-path)/pacer" /usr/local/bin/pacer

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-0 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin pacer \
    && mkdir -p /data && chown pacer:pacer /data
COPY --from=build /usr/local/bin/pacer /usr/local/bin/pacer
USER pacer
WORKDIR /data
VOLUME ["/data"]
ENV PACER_DB=/data/pacer.sqlite PACER_LOG_FORMAT=records
ENTRYPOINT ["pacer"]
CMD ["run"]
