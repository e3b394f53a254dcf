# syntax=docker/dockerfile:1
# The Sentinel image: a static binary on distroless' static base (CA
# certificates, time zones, no shell, no package manager), run as a numeric
# non-root user so that Kubernetes' runAsNonRoot can verify it.
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always) -t ghcr.io/sentinel-ml/sentinel:TAG --push .
#
# helm/tests (TestDockerfile*) builds the binary with this file's flags and
# checks its base, user and entrypoint.

# Go 1.26.10 fixes the standard-library vulnerabilities govulncheck reports
# against earlier 1.26 releases; release images are built with it.
FROM --platform=$BUILDPLATFORM golang:1.26.10 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o /out/sentinel ./cmd/sentinel

FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /out/sentinel /usr/local/bin/sentinel
# distroless' nonroot user, by number.
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/sentinel"]
CMD ["run", "--config", "/etc/sentinel/config/sentinel.yaml"]
