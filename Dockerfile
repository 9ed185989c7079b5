# Build: a static Go binary with the front end embedded.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/interleave .

# Run: Debian slim with python3 (the CPython engine) and the few programs the
# subprocess scenario may start; a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 coreutils findutils ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 interleave \
 && mkdir -p /data && chown interleave /data
COPY --from=build /out/interleave /usr/local/bin/interleave
USER interleave
WORKDIR /home/interleave
EXPOSE 8080
ENV PORT=8080
# -lan: inside the container the published port arrives on its network
# interface, not on loopback.
ENTRYPOINT ["interleave", "-lan", "-data", "/data"]
