# Multi-stage build: a static zaqar-server on a distroless base.
#   docker build --build-arg VERSION=$(git describe --tags --dirty) -t zaqar-server .
#   docker run -p 8888:8888 -v zaqar-data:/var/lib/zaqar zaqar-server
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# CGO_ENABLED=0: a static binary that needs no libc in the final image
# (cmd/zaqar-server's TestStaticBuild builds it the same way).
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/zaqar-server ./cmd/zaqar-server \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/zaqar-sql-db-manage ./cmd/zaqar-sql-db-manage \
 && mkdir -p /out/data

# distroless/static: CA certificates and tzdata, no shell, user 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/zaqar-server /out/zaqar-sql-db-manage /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /var/lib/zaqar
COPY zaqar.conf.sample /etc/zaqar/zaqar.conf.sample
VOLUME /var/lib/zaqar
EXPOSE 8888
USER 65532:65532
# Listen on every interface inside the container; publish the port only
# where clients should reach it (see docs/operations.md).
ENTRYPOINT ["/usr/local/bin/zaqar-server", "--data-dir", "/var/lib/zaqar", "--bind", "0.0.0.0"]
