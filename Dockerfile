# syntax=docker/dockerfile:1
# Images for mockmodel: `docker build --target server -t ghcr.io/mockmodel/mockmodel-server:0.1.0 .`
# and `docker build --target operator -t ghcr.io/mockmodel/mockmodel-operator:0.1.0 .`.
# Binaries are built for x86_64-unknown-linux-gnu (glibc) and run on distroless/cc, which carries
# exactly the libraries they link (libc, libm, libgcc_s); `make test` checks that link set.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p mockmodel-server -p mockmodel-operator

# The mock server: non-root, no shell, listens on 8080 on all interfaces.
FROM gcr.io/distroless/cc-debian12:nonroot AS server
COPY --from=build /src/target/release/mockmodel-server /usr/local/bin/mockmodel-server
ENV MOCKMODEL_HOST=0.0.0.0 MOCKMODEL_PORT=8080
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/mockmodel-server"]

# The operator: non-root, no shell; metrics and health on 8081.
FROM gcr.io/distroless/cc-debian12:nonroot AS operator
COPY --from=build /src/target/release/mockmodel-operator /usr/local/bin/mockmodel-operator
EXPOSE 8081
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/mockmodel-operator"]
