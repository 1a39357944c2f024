# syntax=docker/dockerfile:1
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tenure ./cmd/tenure \
 && mkdir -p /out/data

# Static binary with embedded time zones; distroless gives CA certificates
# and a non-root user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tenure /usr/local/bin/tenure
COPY configs/ /etc/tenure/
# The data directory must belong to the non-root user; distroless has no shell
# to chown it, so it is copied in with its owner.
COPY --from=build --chown=65532:65532 /out/data /var/lib/tenure
ENV TENURE_DATA_DIR=/var/lib/tenure
VOLUME /var/lib/tenure
USER nonroot:nonroot
EXPOSE 8080
# No shell or curl here: the binary probes its own /readyz (the store
# answers). Serving elsewhere than port 8080? Set TENURE_SERVER, e.g.
# http://127.0.0.1:9090, which the operator commands read too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/tenure", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tenure"]
CMD ["serve", "--config", "/etc/tenure/quickstart.yaml", "--listen", "0.0.0.0:8080"]
